package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand: a one-line summary and its entry point.
type command struct {
	summary string
	run     func(args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"keygen":       {"create an Ed25519 identity key file", runKeygen},
		"storage-node": {"run a blob storage node", runStorageNode},
		"blob":         {"put, get and inspect blobs on a committee", runBlob},
		"coordinator":  {"run the round coordinator of a job", runCoordinator},
		"participant":  {"run an edge participant", runParticipant},
		"sim":          {"simulate a whole federation in one process (--compare: overlay runs)", runSimDispatch},
		"audit":        {"replay and verify a round-commitment chain", runAudit},
		"status":       {"show a running coordinator's job, round and last outcomes", runStatus},
		"models":       {"list and fetch model versions from a chain", runModels},
		"privacy":      {"plan differential-privacy budgets", runPrivacy},
		"bench":        {"run benchmarks and print JSON", runBench},
	}
}

// usageError marks errors caused by bad command-line input.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "floe: unknown command %q (run 'floe --help')\n", args[0])
		return 2
	}
	if err := c.run(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "floe %s: %s\n", args[0], oneLine(err.Error()))
		var xe interface{ ExitCode() int } // an error with its own exit status
		if errors.As(err, &xe) {
			return xe.ExitCode()
		}
		var ue *usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ") }

func printUsage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "floe: a federated-learning coordinator with an erasure-coded blob store on libp2p")
	fmt.Fprintln(w, "\nUsage: floe <command> [flags]    (floe <command> --help for details)\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-13s %s\n", n, cmds[n].summary)
	}
}

// newFlagSet returns a flag set that reports errors instead of exiting and
// prints the given usage line and examples with --help.
func newFlagSet(name, usage, examples string) *flag.FlagSet {
	fs := flag.NewFlagSet("floe "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: floe %s %s\n\nFlags:\n", name, usage)
		fs.PrintDefaults()
		if examples != "" {
			fmt.Fprintf(fs.Output(), "\nExamples:\n%s\n", strings.TrimRight(examples, "\n"))
		}
	}
	return fs
}

// parseFlags parses args into fs, turning parse failures into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return flag.ErrHelp
	}
	if err != nil {
		return usagef("%v", err)
	}
	return nil
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
