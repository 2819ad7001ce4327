package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/floe-fl/floe/atomicfile"
	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/p2p"
)

const blobUsage = `Usage: floe blob <put|get|stat> [flags]

  put   store a file on a committee; prints the blob ID
  get   read a blob into a file
  stat  say which committee members hold a valid sliver

Examples:
  floe blob put --committee committee.txt --cert-out model.cert model.safetensors
  floe blob get --committee committee.txt Xq3b...Zk -o model.safetensors
  floe blob stat --committee committee.txt Xq3b...Zk
`

func runBlob(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		os.Stderr.WriteString(blobUsage)
		if len(args) == 0 {
			return usagef("missing subcommand (put, get or stat)")
		}
		return flag.ErrHelp
	}
	switch args[0] {
	case "put":
		return runBlobPut(args[1:])
	case "get":
		return runBlobGet(args[1:])
	case "stat":
		return runBlobStat(args[1:])
	}
	return usagef("unknown blob subcommand %q (put, get or stat)", args[0])
}

type blobFlags struct {
	committee *string
	timeout   *time.Duration
}

func addBlobFlags(fs *flag.FlagSet) blobFlags {
	return blobFlags{
		committee: fs.String("committee", "", "committee file: one multiaddr with /p2p/ID a line, in sliver order"),
		timeout:   fs.Duration("timeout", 10*time.Minute, "overall time limit"),
	}
}

// open reads the committee and starts a dial-only host with a fresh key and
// a client on it.
func (f blobFlags) open() (*p2p.Client, host.Host, context.Context, context.CancelFunc, error) {
	if *f.committee == "" {
		return nil, nil, nil, nil, usagef("--committee FILE is required")
	}
	if *f.timeout <= 0 {
		return nil, nil, nil, nil, usagef("--timeout must be positive, got %v", *f.timeout)
	}
	com, err := blob.ReadCommitteeFile(*f.committee)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ep, err := openEndpoint("", nil, true, com)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	c, h := ep.client, ep.host
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel2 := context.WithTimeout(ctx, *f.timeout)
	return c, h, ctx, func() { cancel2(); cancel() }, nil
}

func runBlobPut(args []string) error {
	fs := newFlagSet("blob put", "--committee FILE [--cert-out FILE] [--lifetime DURATION] PATH", `  floe blob put --committee committee.txt update.bin
  floe blob put --committee committee.txt --cert-out update.cert --lifetime 24h update.bin`)
	bf := addBlobFlags(fs)
	certOut := fs.String("cert-out", "", "write the availability certificate (CBOR) here")
	lifetime := fs.Duration("lifetime", 0, "nodes delete the blob this long after storing it (0: keep)")
	waitAll := fs.Bool("wait-all", false, "wait for every node instead of returning at n-f acknowledgements")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one PATH to store, got %d arguments", len(pos))
	}
	if *lifetime < 0 {
		return usagef("--lifetime must not be negative")
	}
	data, err := os.ReadFile(pos[0])
	if err != nil {
		return fmt.Errorf("blob put: %w", err)
	}
	c, h, ctx, cancel, err := bf.open()
	if err != nil {
		return err
	}
	defer h.Close()
	defer cancel()
	var opts []p2p.PutOption
	if *lifetime > 0 {
		opts = append(opts, p2p.WithLifetime(*lifetime))
	}
	if *waitAll {
		opts = append(opts, p2p.WithWaitAll())
	}
	var (
		mu      sync.Mutex
		results []p2p.NodeError
	)
	opts = append(opts, p2p.WithNodeResults(func(r p2p.NodeError) {
		mu.Lock()
		defer mu.Unlock()
		results = append(results, r)
	}))
	id, cert, err := c.Put(ctx, data, opts...)
	if err != nil {
		c.Close()
		return err
	}
	// Let the remaining writes and the certificate push finish before exit.
	c.Wait()
	c.Close()
	mu.Lock()
	reportAcks(os.Stderr, c.Committee().N(), results)
	mu.Unlock()
	if *certOut != "" {
		b, err := cert.Marshal()
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(*certOut, b, 0o644); err != nil {
			return err
		}
	}
	fmt.Println(id)
	return nil
}

func runBlobGet(args []string) error {
	fs := newFlagSet("blob get", "--committee FILE ID -o PATH", `  floe blob get --committee committee.txt Xq3b...Zk -o model.safetensors
  floe blob get --committee committee.txt Xq3b...Zk -o -     (to stdout)`)
	bf := addBlobFlags(fs)
	out := fs.String("o", "", "output file ('-' for stdout)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *out == "" {
		return usagef("-o PATH is required")
	}
	id, err := oneID(pos)
	if err != nil {
		return err
	}
	c, h, ctx, cancel, err := bf.open()
	if err != nil {
		return err
	}
	defer h.Close()
	defer cancel()
	defer c.Close()
	data, err := c.Get(ctx, id)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err = os.Stdout.Write(data)
		return err
	}
	return atomicfile.WriteFile(*out, data, 0o644)
}

func runBlobStat(args []string) error {
	fs := newFlagSet("blob stat", "--committee FILE [--json] ID", `  floe blob stat --committee committee.txt Xq3b...Zk`)
	bf := addBlobFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	id, err := oneID(pos)
	if err != nil {
		return err
	}
	c, h, ctx, cancel, err := bf.open()
	if err != nil {
		return err
	}
	defer h.Close()
	defer cancel()
	defer c.Close()
	st, err := c.Stat(ctx, id)
	if err != nil {
		return err
	}
	valid := 0
	for _, s := range st {
		if s.State == p2p.SliverValid {
			valid++
		}
	}
	com := c.Committee()
	if *asJSON {
		type row struct {
			Index int    `json:"index"`
			Peer  string `json:"peer"`
			State string `json:"state"`
			Error string `json:"error,omitempty"`
		}
		rows := make([]row, len(st))
		for i, s := range st {
			rows[i] = row{s.Index, s.Peer.String(), s.State.String(), s.Err}
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"id": id.String(), "n": com.N(), "k": com.K(), "valid": valid, "nodes": rows})
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "INDEX\tPEER\tSTATE\tDETAIL\n")
	for _, s := range st {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Index, s.Peer, s.State, s.Err)
	}
	tw.Flush()
	fmt.Printf("%d of %d slivers valid; %d needed to read\n", valid, com.N(), com.K())
	if valid < com.K() {
		return errors.New("blob stat: blob is not readable: fewer than k valid slivers")
	}
	return nil
}

// reportAcks says on w how many of the n nodes acknowledged a put, and which
// failed with what, when fewer than all did: a put that succeeded with n - f
// acknowledgements is readable but has less redundancy than asked for.
func reportAcks(w io.Writer, n int, results []p2p.NodeError) {
	var failed []p2p.NodeError
	for _, r := range results {
		if r.Err != nil {
			failed = append(failed, r)
		}
	}
	acked := len(results) - len(failed)
	if acked >= n {
		return
	}
	sort.Slice(failed, func(i, j int) bool { return failed[i].Index < failed[j].Index })
	fmt.Fprintf(w, "blob put: %d of %d nodes acknowledged\n", acked, n)
	for _, f := range failed {
		fmt.Fprintf(w, "  %s\n", f.Error())
	}
	if missing := n - len(results); missing > 0 {
		fmt.Fprintf(w, "  %d nodes did not answer in time\n", missing)
	}
}

// oneID parses the single blob ID argument of get and stat.
func oneID(pos []string) (blob.ID, error) {
	if len(pos) != 1 {
		return blob.ID{}, usagef("want exactly one blob ID, got %d arguments", len(pos))
	}
	id, err := blob.ParseID(pos[0])
	if err != nil {
		return blob.ID{}, usagef("%v", err)
	}
	return id, nil
}
