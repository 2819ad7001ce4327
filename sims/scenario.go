package sims

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/job"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
)

// Scenario is a simulation as a YAML file: everything a run needs except
// where it writes (Options.Out), its logger and an external trainer, so
// that a published experiment is one file. Keys are the names of floe
// sim's flags in snake_case (--local-steps is local_steps, --rule-param
// K=V is rule_params: {K: V}); durations are Go duration strings ("30s").
// LoadScenario reads a file over DefaultScenario, so a key left out keeps
// its default; Options turns a Scenario into Options and ScenarioFrom back.
//
// Faults follow their schedule from the seed: the faults list (Fault,
// faults.go: dropouts at a phase, stragglers, storage nodes killed, wiped
// and corrupted, coordinator crashes at named points, lost, delayed and
// duplicated messages, partitions), and its shorthands: Dropout draws per
// round and member, Crashes at seeded rounds and points, DeadNodes after a
// third of the rounds. With net: memory a scenario replays bit for bit,
// unless it loses or duplicates messages (a message sent again may land
// before or after its round closes).
type Scenario struct {
	Seed job.Uint `yaml:"seed"`
	Net  string   `yaml:"net"` // tcp or memory

	// Data.
	Dataset        string   `yaml:"dataset"` // synthetic or mnist
	Data           string   `yaml:"data"`    // MNIST directory; "": model.FindMNIST ($FLOE_MNIST_DIR)
	Alpha          float64  `yaml:"alpha"`   // Synthetic(alpha, beta)
	Beta           float64  `yaml:"beta"`
	Partition      string   `yaml:"partition"` // MNIST: iid, shards, dirichlet or fang
	DirichletAlpha float64  `yaml:"dirichlet_alpha"`
	Bias           float64  `yaml:"bias"`   // fang partition
	Shards         job.Uint `yaml:"shards"` // shards partition: shards per participant
	Model          string   `yaml:"model"`

	// Federation.
	Nodes        job.Uint `yaml:"nodes"`
	Participants job.Uint `yaml:"participants"`
	Cohort       job.Uint `yaml:"cohort"`
	Quorum       job.Uint `yaml:"quorum"`
	Rounds       job.Uint `yaml:"rounds"`
	Deadline     string   `yaml:"deadline"`

	// Training.
	Epochs     job.Uint `yaml:"epochs"`
	LocalSteps job.Uint `yaml:"local_steps"`
	Batch      job.Uint `yaml:"batch"`
	LR         float64  `yaml:"lr"`
	Mu         float64  `yaml:"mu"`

	// Aggregation and privacy.
	Rule       string             `yaml:"rule"`
	RuleParams map[string]float64 `yaml:"rule_params"`
	NormBound  float64            `yaml:"norm_bound"`
	Privacy    string             `yaml:"privacy"` // sealed or plain

	// Faults and attacks.
	Dropout   float64  `yaml:"dropout"`
	Crashes   job.Uint `yaml:"crashes"`
	DeadNodes job.Uint `yaml:"dead_nodes"`
	Attackers job.Uint `yaml:"attackers"`
	// AttackerSet: which participants attack, first (default) or spread.
	AttackerSet string  `yaml:"attacker_set"`
	Attack      string  `yaml:"attack"`
	Faults      []Fault `yaml:"faults"`

	// Store: "" (floe's storage nodes) or walrus, and with walrus an
	// external publisher and aggregator ("": in process).
	Store      string `yaml:"store"`
	Publisher  string `yaml:"publisher"`
	Aggregator string `yaml:"aggregator"`

	NoAudit bool `yaml:"no_audit"`
	NoClean bool `yaml:"no_clean"` // with faults: no clean run beside
}

// countMax bounds a Scenario's counts (nodes, participants, rounds, ...)
// before they become ints; Options.ValidateInputs bounds them further.
const countMax = 1<<31 - 1

// countKeys are the keys of a Scenario's job.Uint fields.
var countKeys = []string{"seed", "nodes", "participants", "cohort", "quorum", "rounds", "epochs", "local_steps", "batch", "crashes", "dead_nodes", "attackers", "shards"}

// count is a non-negative count as a job.Uint; a negative one (which only
// Options that do not validate hold) becomes countMax+1, which Options
// reports.
func count(n int) job.Uint {
	if n < 0 {
		return countMax + 1
	}
	return job.Uint(n)
}

// DefaultScenario is DefaultOptions as a Scenario: floe sim's defaults.
func DefaultScenario() Scenario { return ScenarioFrom(DefaultOptions()) }

// ScenarioFrom returns the Scenario of o (all but Out, Logger and Trainer).
func ScenarioFrom(o Options) Scenario {
	return Scenario{
		Seed: job.Uint(o.Seed), Net: o.Net,
		Dataset: o.Dataset, Data: o.DataDir, Alpha: o.Alpha, Beta: o.Beta, Partition: o.Partition,
		DirichletAlpha: o.DirAlpha, Bias: o.Bias, Shards: count(o.Shards), Model: o.Arch,
		Nodes: count(o.Nodes), Participants: count(o.Participants), Cohort: count(o.Cohort), Quorum: count(o.Quorum),
		Rounds: count(o.Rounds), Deadline: o.Deadline.String(),
		Epochs: count(o.Epochs), LocalSteps: count(o.LocalSteps), Batch: count(o.Batch), LR: o.LR, Mu: o.Mu,
		Rule: o.Rule.Rule, RuleParams: maps.Clone(o.Rule.Params), NormBound: o.NormBound, Privacy: o.Privacy,
		Dropout: o.Dropout, Crashes: count(o.Crashes), DeadNodes: count(o.DeadNodes), Attackers: count(o.Attackers), AttackerSet: o.AttackerSet, Attack: o.Attack,
		Faults: slices.Clone(o.Faults), Store: o.Store, Publisher: o.Publisher, Aggregator: o.Aggregator,
		NoAudit: o.NoAudit, NoClean: o.NoClean,
	}
}

// Options returns the Options of s, with Out, Logger and Trainer unset.
// An MNIST scenario without data reads model.FindMNIST's directory
// ($FLOE_MNIST_DIR); a walrus scenario has no storage nodes. It reports a
// deadline that is not a Go duration, and nothing else: see Validate.
func (s Scenario) Options() (Options, error) {
	deadline, err := time.ParseDuration(s.Deadline)
	if err != nil {
		return Options{}, fmt.Errorf("sims: deadline %q: want a Go duration such as 30s", s.Deadline)
	}
	for _, c := range []struct {
		name string
		v    job.Uint
	}{{"nodes", s.Nodes}, {"participants", s.Participants}, {"cohort", s.Cohort}, {"quorum", s.Quorum},
		{"rounds", s.Rounds}, {"epochs", s.Epochs}, {"local_steps", s.LocalSteps}, {"batch", s.Batch},
		{"crashes", s.Crashes}, {"dead_nodes", s.DeadNodes}, {"attackers", s.Attackers}, {"shards", s.Shards}} {
		if c.v > countMax {
			return Options{}, fmt.Errorf("sims: %s must be at most %d, got %d", c.name, countMax, c.v)
		}
	}
	params := maps.Clone(s.RuleParams)
	if params == nil {
		params = map[string]float64{}
	}
	o := Options{
		Seed: uint64(s.Seed), Net: s.Net,
		Dataset: s.Dataset, DataDir: s.Data, Alpha: s.Alpha, Beta: s.Beta, Partition: s.Partition,
		DirAlpha: s.DirichletAlpha, Bias: s.Bias, Shards: int(s.Shards), Arch: s.Model,
		Nodes: int(s.Nodes), Participants: int(s.Participants), Cohort: int(s.Cohort), Quorum: int(s.Quorum),
		Rounds: int(s.Rounds), Deadline: deadline,
		Epochs: int(s.Epochs), LocalSteps: int(s.LocalSteps), Batch: int(s.Batch), LR: s.LR, Mu: s.Mu,
		Rule: aggregate.Spec{Rule: s.Rule, Params: params}, NormBound: s.NormBound, Privacy: s.Privacy,
		Dropout: s.Dropout, Crashes: int(s.Crashes), DeadNodes: int(s.DeadNodes), Attackers: int(s.Attackers), AttackerSet: s.AttackerSet, Attack: s.Attack,
		Store: s.Store, Publisher: s.Publisher, Aggregator: s.Aggregator,
		NoAudit: s.NoAudit, NoClean: s.NoClean,
	}
	if len(s.Faults) > 0 {
		o.Faults = slices.Clone(s.Faults)
	}
	if o.Dataset == "mnist" && o.DataDir == "" {
		o.DataDir, _ = model.FindMNIST()
	}
	if o.Store == ledger.StoreWalrus {
		o.Nodes, o.DeadNodes = 0, 0
	}
	return o, nil
}

// Validate reports the first bad field of s, as Options.ValidateInputs
// does for its Options (the error names the flag of the field).
func (s Scenario) Validate() error {
	o, err := s.Options()
	if err != nil {
		return err
	}
	o.Out = "out" // where a run writes is not part of a scenario
	if s.Store == ledger.StoreWalrus && s.DeadNodes != 0 {
		o.DeadNodes = int(s.DeadNodes) // Options drops it: let Validate name it
	}
	return o.ValidateInputs()
}

// ParseScenario reads a scenario's YAML over DefaultScenario and validates
// the result. Unknown fields, duplicate keys and values of the wrong type
// are errors.
func ParseScenario(b []byte) (Scenario, error) {
	// First the counts, so that an error names the key: job.Uint's own
	// error does not.
	var raw map[string]any
	if err := job.DecodeYAML(b, &raw, yaml.Strict()); err != nil {
		return Scenario{}, &ScenarioError{Err: errors.New(yaml.FormatError(err, false, true))}
	}
	for _, k := range countKeys {
		switch v := raw[k].(type) {
		case nil, uint64:
		case int64:
			if v < 0 {
				return Scenario{}, &ScenarioError{Err: fmt.Errorf("%s: want an integer >= 0, got %d", k, v)}
			}
		default:
			return Scenario{}, &ScenarioError{Err: fmt.Errorf("%s: want an integer >= 0, got %v", k, v)}
		}
	}
	if err := checkFaultKeys(raw["faults"]); err != nil {
		return Scenario{}, &ScenarioError{Err: err}
	}
	s := DefaultScenario()
	s.RuleParams = nil // a file's rule_params replace the defaults' (none)
	if len(raw) == 0 { // an empty document would zero s
		return s, s.Validate()
	}
	if err := job.DecodeYAML(b, &s, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
		return Scenario{}, &ScenarioError{Err: errors.New(yaml.FormatError(err, false, true))}
	}
	if err := s.Validate(); err != nil {
		return Scenario{}, &ScenarioError{Err: err}
	}
	return s, nil
}

// LoadScenario reads and validates the scenario file at path (ParseScenario).
func LoadScenario(path string) (Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, fmt.Errorf("sims: %w", err)
	}
	s, err := ParseScenario(b)
	var se *ScenarioError
	if errors.As(err, &se) {
		se.Path = path
	}
	return s, err
}

// ScenarioError is a scenario that does not parse or validate.
type ScenarioError struct {
	Path string // the file, if read from one
	Err  error
}

func (e *ScenarioError) Error() string {
	where := "scenario"
	if e.Path != "" {
		where += " " + e.Path
	}
	return "sims: " + where + ": " + strings.TrimPrefix(e.Err.Error(), "sims: ")
}

func (e *ScenarioError) Unwrap() error { return e.Err }

// YAML returns s as a scenario file, every field written: ParseScenario of
// the result is s.
func (s Scenario) YAML() ([]byte, error) {
	if s.RuleParams == nil {
		s.RuleParams = map[string]float64{}
	}
	b, err := yaml.MarshalWithOptions(s, yaml.AutoInt())
	if err != nil {
		return nil, fmt.Errorf("sims: scenario: %w", err)
	}
	return b, nil
}
