package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/atomicfile"
	"github.com/floe-fl/floe/coordinator"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/sims"
	"github.com/schollz/progressbar/v3"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

const simExamples = `  floe sim --out out/                                  # the default: synthetic data, 20 rounds on loopback
  floe sim --scenario examples/scenarios/fang-trim.yaml --out out/   # a scenario file; flags override its fields
  floe sim --scenario out/scenario.yaml --out out2/    # repeat a run from the scenario it wrote
  floe sim --net memory --seed 7 --out out/            # reproducible: same seed, same chain head
  floe sim --dataset mnist --data ../shared/datasets/mnist --model mlp:784-200-200-10 \
           --participants 100 --cohort 10 --rounds 50 --batch 10 --lr 0.05 --out out/
  floe sim --rule trimmedmean --rule-param beta=0.2 --attackers 2 --out out/
  floe sim --net memory --rule trimmedmean --rule-param beta=0.2 --attack fang-trim --attackers 2 --out out/
  floe sim --dataset mnist --model mlp:784-64-10 --participants 3 --rounds 3 --trainer-mode resident \
           --trainer "python3 examples/pytorch/mnist_cnn.py --model mlp:784-64-10" --out out/`

func runSim(args []string) error {
	o := sims.DefaultOptions()
	fs := newFlagSet("sim", "[--scenario FILE] [flags]", simExamples)
	scenario := fs.String("scenario", "", "scenario file (YAML, see examples/scenarios): the run's settings; the flags given override its fields")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "seed for everything: keys, data, partition, training, faults")
	fs.StringVar(&o.Net, "net", o.Net, "network: tcp (real libp2p hosts on loopback) or memory (in-memory network, simulated clock, reproducible)")
	fs.IntVar(&o.Nodes, "nodes", o.Nodes, "storage nodes in the committee")
	fs.IntVar(&o.Participants, "participants", o.Participants, "participants")
	fs.IntVar(&o.Cohort, "cohort", o.Cohort, "participants drawn per round")
	fs.IntVar(&o.Quorum, "quorum", o.Quorum, "valid updates a round needs (0: half the cohort, rounded up)")
	fs.IntVar(&o.Rounds, "rounds", o.Rounds, "rounds")
	fs.StringVar(&o.Dataset, "dataset", o.Dataset, "synthetic (FedProx Synthetic(alpha, beta)) or mnist")
	fs.StringVar(&o.DataDir, "data", defaultMNISTDir(), "MNIST directory (idx files), for --dataset mnist")
	fs.Float64Var(&o.Alpha, "alpha", o.Alpha, "Synthetic alpha")
	fs.Float64Var(&o.Beta, "beta", o.Beta, "Synthetic beta")
	fs.StringVar(&o.Partition, "partition", o.Partition, "MNIST partition: iid, shards (FedAvg pathological non-IID), dirichlet or fang (Fang et al.'s label groups)")
	fs.Float64Var(&o.DirAlpha, "dirichlet-alpha", o.DirAlpha, "Dirichlet concentration for --partition dirichlet")
	fs.IntVar(&o.Shards, "shards", o.Shards, "for --partition shards: shards per participant (the FedAvg paper's pathological non-IID split uses 2 of 300 examples each)")
	fs.Float64Var(&o.Bias, "bias", o.Bias, "for --partition fang: probability that an example goes to its label's group of participants (1/labels: IID)")
	fs.StringVar(&o.Arch, "model", o.Arch, "model: logreg or mlp:IN-H1-...-CLASSES (e.g. mlp:784-200-200-10)")
	fs.IntVar(&o.Epochs, "epochs", o.Epochs, "local epochs E")
	fs.IntVar(&o.LocalSteps, "local-steps", o.LocalSteps, "local SGD steps a round instead of --epochs when > 0 (a participant setting of the simulation; the job records --epochs)")
	fs.IntVar(&o.Batch, "batch", o.Batch, "local batch size B")
	fs.Float64Var(&o.LR, "lr", o.LR, "local learning rate")
	fs.Float64Var(&o.Mu, "mu", o.Mu, "FedProx proximal term (0: off)")
	rule := fs.String("rule", o.Rule.Rule, "aggregation rule: "+strings.Join(aggregate.Rules(), ", "))
	var ruleParams multiFlag
	fs.Var(&ruleParams, "rule-param", "aggregation parameter NAME=VALUE (repeatable), e.g. beta=0.2")
	fs.Float64Var(&o.NormBound, "norm-bound", o.NormBound, "reject updates whose L2 norm exceeds this (0: no bound)")
	fs.StringVar(&o.Privacy, "privacy", o.Privacy, "sealed (HPKE-encrypted updates), secagg (secure aggregation: the coordinator sees only the sum) or plain")
	fs.DurationVar(&o.Deadline, "deadline", o.Deadline, "round deadline")
	fs.Float64Var(&o.Dropout, "dropout", o.Dropout, "probability that a cohort member drops out of a round")
	fs.IntVar(&o.Attackers, "attackers", o.Attackers, "participants that attack (see --attack)")
	fs.StringVar(&o.AttackerSet, "attacker-set", o.AttackerSet, "which participants attack: first (participants 0..K-1) or spread (one every n/K)")
	fs.StringVar(&o.Attack, "attack", o.Attack, "what the attackers do: "+strings.Join(sims.Attacks(), ", "))
	fs.IntVar(&o.Crashes, "crashes", o.Crashes, "coordinator crashes, each restarted from its data directory (seeded rounds and points)")
	fs.IntVar(&o.DeadNodes, "dead-nodes", o.DeadNodes, "storage nodes killed for good after a third of the rounds (at most f)")
	fs.BoolVar(&o.NoClean, "no-clean", false, "with faults (the scenario's faults list, --dropout, --crashes, --dead-nodes), do not run the clean run (same seed, no faults) beside")
	fs.StringVar(&o.Out, "out", "out", "output directory: metrics.csv, summary.json, accuracy.png, nodes/, committee, head")
	quiet := fs.Bool("quiet", false, "no progress bar")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (coordinator, participants, storage nodes) to this file")
	fs.BoolVar(&o.NoAudit, "no-audit", false, "do not audit the chain at the end")
	trainer := fs.String("trainer", "", "external trainer command line for every participant, split like a shell's words, no shell (default: built-in)")
	trainerMode := fs.String("trainer-mode", "per-round", "how --trainer runs: per-round (a process a round) or resident (one process per participant for the job)")
	trainerTimeout := fs.Duration("trainer-timeout", 0, "with --trainer-mode resident: bound on each train call (0: none)")
	initialModel := fs.String("initial-model", "", "the job's initial model: a safetensors file (version 0), for a model of your own; one that is not logreg or mlp needs --trainer")
	evalCmd := fs.String("eval", "", "evaluator program (a command line split like a shell's words) evaluating each new model on the held-out set over the resident-trainer protocol")
	fs.StringVar(&o.Store, "store", "", "blob store: empty for floe's storage nodes (--nodes), or walrus for Walrus (an in-process publisher and aggregator, or --publisher and --aggregator; no storage nodes)")
	fs.StringVar(&o.Publisher, "publisher", "", "with --store walrus: a Walrus publisher's base URL to use instead of the in-process one (with --aggregator)")
	fs.StringVar(&o.Aggregator, "aggregator", "", "with --store walrus: a Walrus aggregator's base URL to use instead of the in-process one (with --publisher)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{} // the flags given
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var loaded sims.Scenario
	if *scenario != "" {
		// The scenario's options, then the flags given on top: parsing
		// args again sets exactly the flags given, as the first pass did.
		var err error
		if loaded, err = sims.LoadScenario(*scenario); err != nil {
			return usagef("%v", err)
		}
		base, err := loaded.Options()
		if err != nil {
			return usagef("%v", err)
		}
		base.Out = o.Out
		o, ruleParams = base, nil
		if err := parseFlags(fs, args); err != nil {
			return err
		}
	}
	if *scenario == "" || set["rule"] {
		// --rule replaces a scenario's rule and its parameters.
		o.Rule = aggregate.Spec{Rule: *rule, Params: map[string]float64{}}
	}
	if set["rule-param"] {
		o.Rule.Params = map[string]float64{}
	}
	for _, kv := range ruleParams {
		k, v, ok := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil {
			return usagef("--rule-param %q: want NAME=NUMBER", kv)
		}
		o.Rule.Params[k] = f
	}
	if o.Store == ledger.StoreWalrus {
		if set["nodes"] {
			return usagef("--nodes counts floe's storage nodes; --store walrus has none")
		}
		o.Nodes = 0
	}
	newTrainer, err := trainerFlags(*trainer, *trainerMode, *trainerTimeout)
	if err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	o.Trainer = newTrainer
	if *initialModel != "" {
		if o.InitialModel, err = os.ReadFile(*initialModel); err != nil {
			return usagef("--initial-model: %v", err)
		}
	}
	if *evalCmd != "" {
		argv, err := model.SplitCommand(*evalCmd)
		if err != nil || len(argv) == 0 {
			return usagef("--eval %q: %v", *evalCmd, err)
		}
		o.Evaluator = func() coordinator.Evaluator {
			return model.NewResidentTrainer(argv, model.WithOutput(nil, os.Stderr))
		}
	}
	if err := o.ValidateInputs(); err != nil {
		return usagef("%v", err)
	}
	// The resolved scenario: what ran, to run again. Data read from the
	// default place ($FLOE_MNIST_DIR) stays unnamed, so that it travels.
	resolved := sims.ScenarioFrom(o)
	if !set["data"] && loaded.Data == "" {
		resolved.Data = ""
	}
	scenarioYAML, err := resolved.YAML()
	if err != nil {
		return err
	}
	if *scenario != "" {
		fmt.Printf("floe sim: scenario %s, resolved:\n%s", *scenario, scenarioYAML)
	}
	if err := writeScenario(o.Out, scenarioYAML, *trainer, *trainerMode); err != nil {
		return err
	}
	fmt.Printf("floe sim: seed=%d net=%s nodes=%d participants=%d cohort=%d rounds=%d dataset=%s model=%s E=%d B=%d lr=%g rule=%s privacy=%s dropout=%g attackers=%d crashes=%d dead-nodes=%d faults=%d\n",
		o.Seed, o.Net, o.Nodes, o.Participants, o.Cohort, o.Rounds, o.Dataset, o.Arch, o.Epochs, o.Batch, o.LR, o.Rule.Canonical(), o.Privacy, o.Dropout, o.Attackers, o.Crashes, o.DeadNodes, len(o.Faults))
	if *trainer != "" {
		fmt.Printf("floe sim: trainer (%s) %s\n", *trainerMode, *trainer)
	}
	if o.Store == ledger.StoreWalrus {
		where := "an in-process Walrus publisher and aggregator"
		if o.Publisher != "" {
			where = "publisher " + o.Publisher + ", aggregator " + o.Aggregator
		}
		fmt.Printf("floe sim: blobs on Walrus (%s), no storage nodes\n", where)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		// After the first Ctrl-C (which ends the run after the rounds
		// finished, then writes their outputs and audits them) a second
		// one ends the process at once. Returns when runSim does (stop).
		<-ctx.Done()
		stop()
	}()
	bar := progressbar.NewOptions(o.Rounds, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("rounds"),
		progressbar.OptionShowCount(), progressbar.OptionSetVisibility(!*quiet && isTerminal(os.Stderr)), progressbar.OptionClearOnFinish())
	fmt.Printf("%5s  %6s  %6s  %8s  %8s  %8s  %8s\n", "round", "status", "cohort", "accepted", "loss", "accuracy", "seconds")
	start := time.Now()
	res, err := sims.RunWithClean(ctx, o, func(r sims.RoundStat) {
		bar.Clear()
		loss, acc := fmt.Sprintf("%8.4f", r.Loss), fmt.Sprintf("%8.4f", r.Accuracy)
		if r.Status != ledger.StatusOK {
			loss, acc = "-", "-" // a failed round keeps the model: nothing new to evaluate
		}
		fmt.Printf("%5d  %6s  %6d  %8d  %8s  %8s  %8.2f\n", r.Round, r.Status, r.Cohort, r.Accepted, loss, acc, r.Seconds)
		bar.Add(1)
	})
	bar.Finish()
	if err != nil && !(errors.Is(err, context.Canceled) && res != nil) { // Ctrl-C: res holds the rounds finished
		return err
	}
	elapsed := time.Since(start)
	interrupted := ctx.Err() != nil && len(res.Rounds) < o.Rounds
	if interrupted {
		fmt.Printf("interrupted after %d of %d rounds: writing their outputs and auditing them\n", len(res.Rounds), o.Rounds)
	}
	for _, c := range res.Crashes {
		fmt.Printf("coordinator crashed and restarted: %s\n", c)
	}
	if len(res.DeadNodes) > 0 {
		fmt.Printf("storage nodes killed: %v\n", res.DeadNodes)
	}
	for _, f := range res.Faults {
		fmt.Printf("fault: %s\n", f)
	}
	if err := writeSimOutputs(o, res, elapsed, interrupted); err != nil {
		return err
	}
	for i := len(res.Rounds) - 1; i >= 0; i-- {
		if r := res.Rounds[i]; r.Status == ledger.StatusOK {
			fmt.Printf("final accuracy %.4f (round %d) after %d rounds in %.1fs\n", r.Accuracy, r.Round, len(res.Rounds), elapsed.Seconds())
			break
		}
	}
	if o.Store == ledger.StoreWalrus {
		fmt.Printf("outputs in %s (metrics.csv, summary.json, accuracy.png, head)\n", o.Out)
	} else {
		fmt.Printf("outputs in %s (metrics.csv, summary.json, accuracy.png, committee, head, nodes/)\n", o.Out)
	}
	fmt.Printf("chain head %s\n", ledger.Hash(res.Head))
	if res.Audit != nil {
		fmt.Printf("audit: %s (%d rounds replayed; %d checks skipped)\n", res.Audit.Verdict, len(res.Audit.Rounds), res.Audit.Skipped)
		if err := res.Audit.Err(); err != nil {
			return fmt.Errorf("the chain this simulation made does not audit: %w", err)
		}
		key := ""
		if o.Privacy == "sealed" {
			key = " --key " + filepath.Join(o.Out, "auditor.hpke")
		}
		switch {
		case o.Store == ledger.StoreWalrus && o.Publisher == "":
			fmt.Println("(the in-process Walrus server is gone with the sim; run it with --publisher and --aggregator to keep the chain)")
		case o.Store == ledger.StoreWalrus:
			fmt.Printf("audit it again from another process:\n  floe audit --store walrus --aggregator %s --head %s%s\n", o.Aggregator, ledger.Hash(res.Head), key)
		default:
			fmt.Printf("audit it again from another process:\n  floe audit --committee %s --head %s%s\n", filepath.Join(o.Out, "committee"), ledger.Hash(res.Head), key)
			fmt.Println("  (after restarting the storage nodes of", filepath.Join(o.Out, "nodes"), "with floe storage-node, in the same order)")
		}
	}
	fmt.Println("checks:")
	for _, c := range res.Checks {
		fmt.Printf("  %-12s %-4s  %s\n", c.Name, c.Status, c.Detail)
	}
	if bad := res.FailedChecks(); len(bad) > 0 {
		names := make([]string, len(bad))
		for i, c := range bad {
			names[i] = c.Name
		}
		return fmt.Errorf("checks failed: %s (outputs in %s)", strings.Join(names, ", "), o.Out)
	}
	if interrupted {
		return &exitError{code: exitInterrupted, err: fmt.Errorf("interrupted after %d of %d rounds (their outputs are in %s)", len(res.Rounds), o.Rounds, o.Out)}
	}
	return nil
}

// exitInterrupted is floe sim's exit status when Ctrl-C ended it early:
// 128 + SIGINT, as a shell reports a process that SIGINT killed.
const exitInterrupted = 130

// exitError is an error with its own exit status (run prints it as any
// other error).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
func (e *exitError) ExitCode() int { return e.code }

// writeScenario writes the resolved scenario to OUT/scenario.yaml before
// the run, so that even an interrupted run can be repeated with
// floe sim --scenario OUT/scenario.yaml. An external trainer is not part
// of a scenario: a comment names it.
func writeScenario(out string, scenarioYAML []byte, trainer, trainerMode string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	path := filepath.Join(out, "scenario.yaml")
	head := "# floe sim's resolved scenario: floe sim --scenario " + path + " runs it again.\n"
	if trainer != "" {
		head += "# It ran with --trainer-mode " + trainerMode + " --trainer " + strconv.Quote(trainer) + " (not part of a scenario).\n"
	}
	return atomicfile.WriteFile(path, append([]byte(head), scenarioYAML...), 0o644)
}

// defaultMNISTDir is $FLOE_MNIST_DIR, or ../shared/datasets/mnist.
func defaultMNISTDir() string {
	if d := os.Getenv("FLOE_MNIST_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "shared", "datasets", "mnist")
}

// writeSimOutputs writes metrics.csv, summary.json and accuracy.png of the
// rounds in res; interrupted marks a run that Ctrl-C ended early.
func writeSimOutputs(o sims.Options, res *sims.Result, elapsed time.Duration, interrupted bool) error {
	f, err := createOutput(filepath.Join(o.Out, "metrics.csv"))
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"round", "status", "cohort", "submitted", "accepted", "loss", "accuracy", "seconds", "head"})
	for _, r := range res.Rounds {
		loss, acc := strconv.FormatFloat(r.Loss, 'g', 6, 64), strconv.FormatFloat(r.Accuracy, 'g', 6, 64)
		if r.Status != ledger.StatusOK {
			loss, acc = "", ""
		}
		w.Write([]string{strconv.FormatUint(r.Round, 10), string(r.Status), strconv.Itoa(r.Cohort), strconv.Itoa(r.Submitted), strconv.Itoa(r.Accepted),
			loss, acc, strconv.FormatFloat(r.Seconds, 'f', 3, 64), ledger.Hash(r.Head).String()})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	type summaryRound struct {
		Round    uint64  `json:"round"`
		Status   string  `json:"status"`
		Accepted int     `json:"accepted"`
		Loss     float64 `json:"loss"`
		Accuracy float64 `json:"accuracy"`
	}
	type summaryClean struct {
		Head          string   `json:"head"`
		Rounds        int      `json:"rounds"`
		FinalAccuracy *float64 `json:"final_accuracy"` // null: no ok round
		FinalRound    uint64   `json:"final_round"`
	}
	sum := struct {
		Options       summaryOptions `json:"options"`
		Head          string         `json:"head"`
		JobBlob       string         `json:"job_blob"`
		FinalAccuracy float64        `json:"final_accuracy"`
		Seconds       float64        `json:"seconds"`
		Rounds        []summaryRound `json:"rounds"`
		Interrupted   bool           `json:"interrupted"` // Ctrl-C ended the run before its last round
		Faults        []string       `json:"faults"`      // the node and network faults, as they struck
		Checks        []sims.Check   `json:"checks"`
		Clean         *summaryClean  `json:"clean"` // the clean run beside (null: none)
	}{Options: newSummaryOptions(o), Head: ledger.Hash(res.Head).String(), JobBlob: ledger.Hash(res.JobBlob).String(), Seconds: elapsed.Seconds(),
		Interrupted: interrupted, Faults: res.Faults, Checks: res.Checks}
	if sum.Faults == nil {
		sum.Faults = []string{}
	}
	if sum.Checks == nil {
		sum.Checks = []sims.Check{}
	}
	if c := res.Clean; c != nil {
		sum.Clean = &summaryClean{Head: ledger.Hash(c.Head).String(), Rounds: c.Rounds, FinalRound: c.Round}
		if !math.IsNaN(c.Accuracy) {
			sum.Clean.FinalAccuracy = &c.Accuracy
		}
	}
	for _, r := range res.Rounds {
		sum.Rounds = append(sum.Rounds, summaryRound{r.Round, string(r.Status), r.Accepted, r.Loss, r.Accuracy})
		if r.Status == ledger.StatusOK {
			sum.FinalAccuracy = r.Accuracy
		}
	}
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(o.Out, "summary.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return plotAccuracy(filepath.Join(o.Out, "accuracy.png"), res.Rounds)
}

func plotAccuracy(path string, rounds []sims.RoundStat) error {
	p := plot.New()
	p.Title.Text = "floe sim: test accuracy per round"
	p.X.Label.Text = "round"
	p.Y.Label.Text = "accuracy"
	var pts plotter.XYs
	for _, r := range rounds {
		if r.Status == ledger.StatusOK { // failed rounds have no new model to evaluate
			pts = append(pts, plotter.XY{X: float64(r.Round), Y: r.Accuracy})
		}
	}
	if len(pts) == 0 {
		pts = plotter.XYs{{X: 0, Y: 0}}
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	p.Add(line, plotter.NewGrid())
	return savePlot(p, 6*vg.Inch, 4*vg.Inch, path)
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// summaryOptions are a simulation's options in summary.json: snake_case
// keys, durations in seconds, no internal fields (README: JSON outputs).
type summaryOptions struct {
	Seed            uint64             `json:"seed"`
	Net             string             `json:"net"`
	Nodes           int                `json:"nodes"`
	Participants    int                `json:"participants"`
	Cohort          int                `json:"cohort"`
	Quorum          int                `json:"quorum"`
	Rounds          int                `json:"rounds"`
	Dataset         string             `json:"dataset"`
	DataDir         string             `json:"data_dir"`
	Alpha           float64            `json:"alpha"`
	Beta            float64            `json:"beta"`
	Partition       string             `json:"partition"`
	DirAlpha        float64            `json:"dir_alpha"`
	Bias            float64            `json:"bias"`
	Shards          int                `json:"shards"`
	Arch            string             `json:"arch"`
	Epochs          int                `json:"epochs"`
	LocalSteps      int                `json:"local_steps"`
	Batch           int                `json:"batch"`
	LR              float64            `json:"lr"`
	Mu              float64            `json:"mu"`
	Rule            string             `json:"rule"`
	RuleParams      map[string]float64 `json:"rule_params"`
	NormBound       float64            `json:"norm_bound"`
	Privacy         string             `json:"privacy"`
	DeadlineSeconds float64            `json:"deadline_seconds"`
	Dropout         float64            `json:"dropout"`
	Attackers       int                `json:"attackers"`
	AttackerSet     string             `json:"attacker_set,omitempty"`
	Attack          string             `json:"attack"`
	Crashes         int                `json:"crashes"`
	DeadNodes       int                `json:"dead_nodes"`
	Faults          []sims.Fault       `json:"faults"`
	Out             string             `json:"out"`
	NoAudit         bool               `json:"no_audit"`
	NoClean         bool               `json:"no_clean"`
	Store           string             `json:"store"`
	Publisher       string             `json:"publisher"`
	Aggregator      string             `json:"aggregator"`
}

func newSummaryOptions(o sims.Options) summaryOptions {
	params := o.Rule.Params
	if params == nil {
		params = map[string]float64{}
	}
	faults := o.Faults
	if faults == nil {
		faults = []sims.Fault{}
	}
	return summaryOptions{
		Seed: o.Seed, Net: o.Net, Nodes: o.Nodes, Participants: o.Participants, Cohort: o.Cohort, Quorum: o.Quorum,
		Rounds: o.Rounds, Dataset: o.Dataset, DataDir: o.DataDir, Alpha: o.Alpha, Beta: o.Beta, Partition: o.Partition,
		DirAlpha: o.DirAlpha, Bias: o.Bias, Shards: o.Shards, Arch: o.Arch, Epochs: o.Epochs, LocalSteps: o.LocalSteps, Batch: o.Batch,
		LR: o.LR, Mu: o.Mu, Rule: o.Rule.Rule, RuleParams: params, NormBound: o.NormBound, Privacy: o.Privacy,
		DeadlineSeconds: o.Deadline.Seconds(), Dropout: o.Dropout, Attackers: o.Attackers, AttackerSet: o.AttackerSet, Attack: o.Attack,
		Crashes: o.Crashes, DeadNodes: o.DeadNodes, Faults: faults, Out: o.Out, NoAudit: o.NoAudit, NoClean: o.NoClean,
		Store: o.Store, Publisher: o.Publisher, Aggregator: o.Aggregator,
	}
}
