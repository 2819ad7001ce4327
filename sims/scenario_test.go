package sims

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// scenarioFiles are the example scenarios under examples/scenarios.
func scenarioFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "examples", "scenarios", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("examples/scenarios holds %d files, want the default, fang-trim and mnist-2nn-iid at least", len(files))
	}
	return files
}

// TestScenarioExamples loads and validates every example scenario.
func TestScenarioExamples(t *testing.T) {
	for _, f := range scenarioFiles(t) {
		s, err := LoadScenario(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestScenarioDefault: the default example is DefaultOptions, and so is
// an empty scenario.
func TestScenarioDefault(t *testing.T) {
	want := DefaultOptions()
	want.Rule.Params = map[string]float64{}
	for _, src := range []string{"", "{}\n", "# nothing\n"} {
		s, err := ParseScenario([]byte(src))
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if o, err := s.Options(); err != nil || !reflect.DeepEqual(o, want) {
			t.Fatalf("%q: options %+v (%v), want %+v", src, o, err, want)
		}
	}
	s, err := LoadScenario(filepath.Join("..", "examples", "scenarios", "default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if o, err := s.Options(); err != nil || !reflect.DeepEqual(o, want) {
		t.Fatalf("default.yaml: options %+v (%v), want %+v", o, err, want)
	}
}

// TestScenarioRoundTrip: load, Options, ScenarioFrom, YAML and load again
// gives the same Options, for every example and for one that sets every
// field away from its default.
func TestScenarioRoundTrip(t *testing.T) {
	odd := `seed: 18446744073709551615
net: memory
dataset: mnist
data: /nowhere/mnist
alpha: 0.30000000000000004
beta: 1e-300
partition: dirichlet
dirichlet_alpha: 0.1
bias: 0.7
model: mlp:784-20-10
nodes: 7
participants: 20
cohort: 9
quorum: 5
rounds: 12
deadline: 1m30.5s
epochs: 2
local_steps: 3
batch: 32
lr: 0.1
mu: 0.01
rule: trimmedmean
rule_params: {beta: 0.2}
norm_bound: 4.5
privacy: plain
dropout: 0.25
crashes: 2
dead_nodes: 2
attackers: 3
attack: lie
no_audit: true
`
	dir := t.TempDir()
	files := append(scenarioFiles(t), filepath.Join(dir, "odd.yaml"))
	if err := os.WriteFile(files[len(files)-1], []byte(odd), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		s, err := LoadScenario(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		o, err := s.Options()
		if err != nil {
			t.Fatal(err)
		}
		b, err := ScenarioFrom(o).YAML()
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseScenario(b)
		if err != nil {
			t.Fatalf("%s: the resolved scenario does not load: %v\n%s", f, err, b)
		}
		o2, err := again.Options()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(o, o2) {
			t.Errorf("%s: round trip changed the options:\n%+v\n%+v\n%s", f, o, o2, b)
		}
	}
	s, _ := LoadScenario(files[len(files)-1])
	if o, _ := s.Options(); o.Alpha != 0.30000000000000004 || o.Deadline != 90*time.Second+500*time.Millisecond || o.Seed != 1<<64-1 {
		t.Errorf("odd.yaml read as alpha %v, deadline %v, seed %d", o.Alpha, o.Deadline, o.Seed)
	}
}

// TestScenarioErrors: a bad scenario is an error naming the key or the
// number, and the file.
func TestScenarioErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"participantz: 3\n", `unknown field "participantz"`},
		{"rule_params: {beta: x}\n", "rule_params"},
		{"lr: 0.1\nlr: 0.2\n", `"lr" already defined`},
		{"participants: 1.5\n", "participants: want an integer >= 0, got 1.5"},
		{"seed: -1\n", "seed: want an integer >= 0"},
		{"rounds: 4294967296\n", "rounds must be at most"},
		{"deadline: 3\n", `deadline "3"`},
		{"deadline: 0s\n", "--deadline must be positive"},
		{"participants: 0\n", "need at least one participant"},
		{"lr: .nan\n", "--lr, --mu and --norm-bound must be finite"},
		{"dropout: 1\n", "dropout must be in [0, 1)"},
		{"attack: nosuch\n", "nosuch"},
		{"net: udp\n", "--net must be tcp or memory"},
		{"store: walrus\ndead_nodes: 1\n", "dead storage nodes"},
		{"rule: trimmedmean\nrule_params: {gamma: 1}\n", "gamma"},
		{"- 1\n", "scenario"},
	} {
		path := filepath.Join(t.TempDir(), "s.yaml")
		if err := os.WriteFile(path, []byte(tc.src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadScenario(path)
		var se *ScenarioError
		if err == nil || !errors.As(err, &se) || se.Path != path || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "sims: scenario "+path+": ") {
			t.Errorf("%q: error %v, want a ScenarioError for %s naming %q", tc.src, err, path, tc.want)
		}
	}
	if _, err := LoadScenario(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v, want os.ErrNotExist", err)
	}
}

// TestScenarioReplay runs one small scenario twice on the memory network,
// with dropouts, attackers and a coordinator crash all drawn from its seed,
// and expects one chain head; a different seed makes another.
func TestScenarioReplay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const src = `seed: 5
net: memory
participants: 6
cohort: 5
rounds: 3
rule: trimmedmean
rule_params: {beta: 0.2}
dropout: 0.2
attackers: 1
attack: gaussian
crashes: 1
`
	s, err := ParseScenario([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	run := func(s Scenario) *Result {
		t.Helper()
		o, err := s.Options()
		if err != nil {
			t.Fatal(err)
		}
		o.Out, o.Logger = t.TempDir(), testLogger(t)
		res, err := Run(ctx, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Audit.Err(); err != nil {
			t.Fatal(err)
		}
		if len(res.Rounds) != 3 || len(res.Crashes) != 1 {
			t.Fatalf("%d rounds and crashes %v, want 3 rounds and one crash", len(res.Rounds), res.Crashes)
		}
		return res
	}
	r1, r2 := run(s), run(s)
	if r1.Head != r2.Head {
		t.Fatalf("one scenario, two chain heads: %v and %v", r1.Head, r2.Head)
	}
	s.Seed++
	if r3 := run(s); r3.Head == r1.Head {
		t.Fatal("different seeds gave the same chain head")
	}
}
