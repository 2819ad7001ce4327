package main

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
)

// benchmarks lists the `floe bench` subcommands. Each prints one JSON document
// with a top-level "ratios" object beside its raw figures.
func benchmarks() map[string]func(args []string) (any, error) {
	return map[string]func(args []string) (any, error){
		"erasure":   benchErasure,
		"blob":      benchBlob,
		"train":     benchTrain,
		"aggregate": benchAggregate,
		"round":     benchRound,
		"secagg":    benchSecagg,
	}
}

func runBench(args []string) error {
	b := benchmarks()
	names := make([]string, 0, len(b))
	for n := range b {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		os.Stderr.WriteString("Usage: floe bench <" + strings.Join(names, "|") + "> [flags]\n\nEach prints one JSON document with a top-level \"ratios\" object.\n\nExamples:\n  floe bench erasure\n  floe bench aggregate --quick\n")
		if len(args) == 0 {
			return usagef("missing benchmark name")
		}
		return nil
	}
	fn, ok := b[args[0]]
	if !ok {
		return usagef("unknown benchmark %q (one of %s)", args[0], strings.Join(names, ", "))
	}
	out, err := fn(args[1:])
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
