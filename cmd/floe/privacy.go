package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/floe-fl/floe/aggregate"
)

const privacyUsage = `  floe privacy epsilon --q 0.01 --sigma 1.1 --rounds 1000 --delta 1e-5
      epsilon spent after 1000 rounds sampling 1% of participants with noise multiplier 1.1
  floe privacy sigma --q 0.01 --rounds 1000 --delta 1e-5 --epsilon 2
      noise multiplier needed to stay within epsilon 2
  floe privacy epsilon --q 0.01 --sigma 1.1 --rounds 1000 --delta 1e-5 --json`

func runPrivacy(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(os.Stderr, "Usage: floe privacy <epsilon|sigma> [flags]\n\n"+
			"Plan central-DP budgets with the RDP accountant of the sampled Gaussian mechanism\n"+
			"(Mironov et al. 2019; improved RDP-to-(eps, delta) conversion as in TF Privacy and Opacus).\n\nExamples:\n%s\n", privacyUsage)
		if len(args) == 0 {
			return usagef("missing subcommand (epsilon or sigma)")
		}
		return nil
	}
	switch args[0] {
	case "epsilon":
		return privacyEpsilon(args[1:])
	case "sigma":
		return privacySigma(args[1:])
	}
	return usagef("unknown privacy subcommand %q (epsilon or sigma)", args[0])
}

type privacyFlags struct {
	q, delta float64
	rounds   int
	json     bool
}

func (p *privacyFlags) register(fs *flag.FlagSet) {
	fs.Float64Var(&p.q, "q", 0, "sampling rate: expected fraction of participants per round, in (0, 1] (required)")
	fs.IntVar(&p.rounds, "rounds", 0, "number of rounds T (required)")
	fs.Float64Var(&p.delta, "delta", 0, "target delta, in (0, 1) (required)")
	fs.BoolVar(&p.json, "json", false, "print JSON instead of text")
}

func (p *privacyFlags) check(fs *flag.FlagSet) error {
	if fs.NArg() != 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if !(p.q > 0 && p.q <= 1) {
		return usagef("--q must be in (0, 1], got %v", p.q)
	}
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "rounds" })
	if !set || p.rounds < 0 {
		return usagef("--rounds must be given and >= 0")
	}
	if !(p.delta > 0 && p.delta < 1) {
		return usagef("--delta must be in (0, 1), got %v", p.delta)
	}
	return nil
}

func privacyEpsilon(args []string) error {
	fs := newFlagSet("privacy epsilon", "--q Q --sigma S --rounds T --delta D [--json]", privacyUsage)
	var p privacyFlags
	p.register(fs)
	sigma := fs.Float64("sigma", 0, "noise multiplier: noise stddev divided by the clip norm (required, > 0)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := p.check(fs); err != nil {
		return err
	}
	if !(*sigma > 0) {
		return usagef("--sigma must be > 0, got %v", *sigma)
	}
	eps, order, err := aggregate.Epsilon(p.q, *sigma, p.rounds, p.delta)
	if err != nil {
		return err
	}
	if p.json {
		return json.NewEncoder(os.Stdout).Encode(map[string]any{
			"epsilon": eps, "order": order, "q": p.q, "sigma": *sigma, "rounds": p.rounds, "delta": p.delta,
		})
	}
	fmt.Printf("epsilon %.6g (delta %g) at Rényi order %g, for %d rounds at q=%g with noise multiplier %g\n",
		eps, p.delta, order, p.rounds, p.q, *sigma)
	return nil
}

func privacySigma(args []string) error {
	fs := newFlagSet("privacy sigma", "--q Q --rounds T --delta D --epsilon E [--json]", privacyUsage)
	var p privacyFlags
	p.register(fs)
	target := fs.Float64("epsilon", 0, "target epsilon (required, > 0)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := p.check(fs); err != nil {
		return err
	}
	if !(*target > 0) {
		return usagef("--epsilon must be > 0, got %v", *target)
	}
	if p.rounds < 1 {
		return usagef("--rounds must be >= 1 to need any noise")
	}
	sigma, err := aggregate.SigmaFor(p.q, p.rounds, p.delta, *target)
	if err != nil {
		return err
	}
	eps, order, err := aggregate.Epsilon(p.q, sigma, p.rounds, p.delta)
	if err != nil {
		return err
	}
	if p.json {
		return json.NewEncoder(os.Stdout).Encode(map[string]any{
			"sigma": sigma, "epsilon": eps, "order": order, "q": p.q, "rounds": p.rounds, "delta": p.delta, "target_epsilon": *target,
		})
	}
	fmt.Printf("noise multiplier %.6g gives epsilon %.6g (delta %g, Rényi order %g) for %d rounds at q=%g\n",
		sigma, eps, p.delta, order, p.rounds, p.q)
	return nil
}
