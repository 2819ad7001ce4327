package job

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/seal"
)

func testKey(t testing.TB) *seal.Key {
	k, err := seal.DeriveKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var testCommittee = []string{"/ip4/127.0.0.1/tcp/1/p2p/a", "/ip4/127.0.0.1/tcp/2/p2p/b"}

func TestExampleJobFile(t *testing.T) {
	j, err := Load(filepath.Join("..", "examples", "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if j.Rounds != 5 || j.Aggregation.Canonical() != (aggregate.Spec{Rule: "fedavg"}).Canonical() || j.Privacy != "sealed" {
		t.Fatalf("unexpected job: %+v", j)
	}
	s, err := j.Spec("coordinator-id", testKey(t), j.Model, testCommittee)
	if err != nil {
		t.Fatal(err)
	}
	if s.Train.LR != "0.05" || s.Train.Mu != "" || s.Quorum != 2 || s.DeadlineMillis != 60000 || len(s.Recipients) != 1 {
		t.Fatalf("unexpected spec: %+v", s)
	}
}

// TestKEM checks that ledger validates recipients with seal's suite.
func TestKEM(t *testing.T) {
	if ledger.KEMX25519 != seal.SuiteName || len(testKey(t).PublicKey()) != 32 {
		t.Fatalf("ledger.KEMX25519 %q, seal.SuiteName %q", ledger.KEMX25519, seal.SuiteName)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte("name: t\nmodel: logreg:4-3\nrounds: 1\ncohort_size: 5\ntrain: {epochs: 1, batch_size: 1, lr: 0.1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if c.Privacy != d.Privacy || c.Deadline != "60s" || c.Aggregation.Rule != "fedavg" || c.MinParticipants != 1 || c.Quorum != 0 {
		t.Fatalf("defaults not applied: %+v", c)
	}
	s, err := c.Spec("c", testKey(t), "logreg:4-3", testCommittee)
	if err != nil {
		t.Fatal(err)
	}
	if s.Quorum != 3 || s.Quorum != DefaultQuorum(5) || s.MinParticipants != 1 || s.UpdateLifetimeMillis != 0 {
		t.Fatalf("spec defaults: quorum %d min participants %d lifetime %d", s.Quorum, s.MinParticipants, s.UpdateLifetimeMillis)
	}
	if err := d.Validate(); err == nil {
		t.Fatal("Default() validates without name, model, rounds, cohort and train")
	}
}

func TestValidateDoesNotModify(t *testing.T) {
	c := Default()
	c.Auditors = []Auditor{{Name: "", PublicKey: "x"}}
	c.Aggregation.Params = map[string]float64{"f": 1}
	before := fmt.Sprintf("%#v", c)
	c.Validate()
	if after := fmt.Sprintf("%#v", c); after != before {
		t.Fatalf("Validate modified the config:\n%s\n%s", before, after)
	}
}

const base = "name: t\nmodel: logreg:4-3\nrounds: 1\ncohort_size: 3\ntrain: {epochs: 1, batch_size: 1, lr: 0.1}\n"

// withField returns base with the line for key replaced by (or, when absent,
// extended with) line.
func withField(key, line string) string {
	var out []string
	found := false
	for _, l := range strings.Split(strings.TrimSuffix(base, "\n"), "\n") {
		if strings.HasPrefix(l, key+":") {
			l, found = line, true
		}
		out = append(out, l)
	}
	if !found {
		out = append(out, line)
	}
	return strings.Join(out, "\n") + "\n"
}

func TestBadJobFiles(t *testing.T) {
	key3 := base64.StdEncoding.EncodeToString([]byte{1, 2, 3})
	key32 := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		name, text string
		want       string // substring of the error
	}{
		{"unknown field", base + "bogus: 1\n", "bogus"},
		{"secagg block in a sealed job", base + "secagg: {clip: 2}\n", "job: secagg: set in a sealed job"},
		{"secagg with krum", base + "privacy: secagg\naggregation: {rule: median}\n", "job: aggregation: median needs the individual updates"},
		{"secagg with auditors", base + "privacy: secagg\nauditors: [{name: a, public_key: " + key32 + "}]\n", "job: auditors: a secagg job has no recipients"},
		{"secagg threshold", base + "privacy: secagg\nsecagg: {threshold: 0.5}\n", "job: secagg.threshold: 0.5, want a number in (0.5, 1]"},
		{"secagg threshold below the corrupt bound", withField("cohort_size", "cohort_size: 30") + "privacy: secagg\nsecagg: {threshold: 0.6, corrupt: 0.25}\n", "job: secagg.threshold: 0.6 does not protect members from a coordinator colluding with a fraction 0.25"},
		{"secagg corrupt", base + "privacy: secagg\nsecagg: {corrupt: 0.5}\n", "job: secagg.corrupt: 0.5, want a number in [0, 0.5)"},
		{"secagg norm bound without clip", base + "privacy: secagg\nnorm_bound: 5\n", "job: norm_bound: a secagg job cannot reject"},
		{"secagg ring", base + "privacy: secagg\nsecagg: {frac_bits: 40, clip: 1000}\n", "job: secagg: no ring of at most 64 bits"},
		{"no model", strings.Replace(base, "model: logreg:4-3\n", "", 1), "job: model: required"},
		{"model and initial_model", base + "initial_model: m.safetensors\n", "job: initial_model: the job sets model \"logreg:4-3\" too"},
		{"no name", strings.Replace(base, "name: t\n", "", 1), "job: name: required"},
		{"bad rule", withField("aggregation", "aggregation: {rule: magic}"), "job: aggregation: aggregate: unknown rule"},
		{"quorum", withField("quorum", "quorum: 4"), "job: quorum: 4 exceeds cohort_size 3"},
		{"deadline", withField("deadline", "deadline: soon"), "job: deadline: time: invalid duration"},
		{"not yaml", "{{{", "job: "},
		{"duplicate key", base + "rounds: 2\n", "rounds"},

		{"deadline 0s", withField("deadline", "deadline: 0s"), "job: deadline: 0s, want at least 1ms"},
		{"deadline 0", withField("deadline", "deadline: 0"), "job: deadline: 0s, want at least 1ms"},
		{"deadline negative", withField("deadline", "deadline: -5s"), "job: deadline: -5s, want at least 1ms"},
		{"deadline sub-millisecond", withField("deadline", "deadline: 500us"), "job: deadline: 500µs, want at least 1ms"},
		{"update_lifetime negative", withField("update_lifetime", "update_lifetime: -1h"), "job: update_lifetime: -1h0m0s is negative"},
		{"update_lifetime bad", withField("update_lifetime", "update_lifetime: long"), "job: update_lifetime: time: invalid duration"},
		{"update_lifetime below deadline", withField("update_lifetime", "update_lifetime: 1s"), "job: update_lifetime: 1s is shorter than the deadline 1m0s"},
		{"rounds past 2^64", withField("rounds", "rounds: 18446744073709551616"), `"18446744073709551616" is not an integer`},
		{"store unknown", base + "store: s3\n", `job: store: "s3", want empty (floe's own storage nodes) or "walrus"`},
		{"admission: not a peer ID", base + "admission: {allow: [alice]}\n", `job: admission.allow[0]: "alice" is not an Ed25519 peer ID`},
		{"admission: allow-list below min_participants", base + "min_participants: 3\nadmission: {allow: [" + testPeer(1) + "]}\n", "job: admission.allow: 1 peers, fewer than min_participants 3"},
		{"admission: cap below min_participants", base + "min_participants: 3\nadmission: {max_registrations: 2}\n", "job: admission.max_registrations: 2, fewer than min_participants 3"},
		{"admission: max_examples past 2^32", base + "admission: {max_examples: 4294967297}\n", "job: admission.max_examples: 4294967297, want at most 4294967296"},
		{"rounds 0", withField("rounds", "rounds: 0"), "job: rounds: must be at least 1"},
		{"rounds fractional", withField("rounds", "rounds: 1.5"), `"1.5" is not an integer`},
		{"rounds negative", withField("rounds", "rounds: -1"), `"-1" is not an integer`},
		{"rounds hex", withField("rounds", "rounds: 0x10"), `"0x10" is not an integer`},
		{"seed past 2^64", base + "seed: 99999999999999999999\n", `"99999999999999999999" is not an integer`},
		{"cohort 0", withField("cohort_size", "cohort_size: 0"), "job: cohort_size: 0, want 1 to 1073741824"},
		{"cohort past 2^30", withField("cohort_size", "cohort_size: 1073741825"), "job: cohort_size: 1073741825, want 1 to 1073741824"},
		{"min_participants 0", base + "min_participants: 0\n", "job: min_participants: 0, want 1 to"},
		{"epochs 0", withField("train", "train: {epochs: 0, batch_size: 1, lr: 0.1}"), "job: train.epochs: 0, want 1 to"},
		{"batch 0", withField("train", "train: {epochs: 1, batch_size: 0, lr: 0.1}"), "job: train.batch_size: 0, want 1 to"},
		{"lr malformed", withField("train", "train: {epochs: 1, batch_size: 1, lr: 0.o5}"), "lr"},
		{"lr missing", withField("train", "train: {epochs: 1, batch_size: 1}"), "job: train.lr: 0, want a finite number > 0"},
		{"lr NaN", withField("train", "train: {epochs: 1, batch_size: 1, lr: .nan}"), "job: train.lr: NaN, want a finite number > 0"},
		{"lr Inf", withField("train", "train: {epochs: 1, batch_size: 1, lr: .inf}"), "job: train.lr: +Inf, want a finite number > 0"},
		{"lr negative", withField("train", "train: {epochs: 1, batch_size: 1, lr: -0.1}"), "job: train.lr: -0.1, want a finite number > 0"},
		{"mu negative", withField("train", "train: {epochs: 1, batch_size: 1, lr: 0.1, mu: -1}"), "job: train.mu: -1, want a finite number >= 0"},
		{"weight decay Inf", withField("train", "train: {epochs: 1, batch_size: 1, lr: 0.1, weight_decay: .inf}"), "job: train.weight_decay: +Inf"},
		{"privacy", base + "privacy: secret\n", `job: privacy: "secret", want sealed, secagg or plain`},
		{"norm_bound negative", base + "norm_bound: -1\n", "job: norm_bound: -1, want a finite number >= 0"},
		{"norm_bound Inf", base + "norm_bound: .inf\n", "job: norm_bound: +Inf"},
		{"clip without bound", base + "clip: true\n", "job: clip: needs a norm_bound > 0"},
		{"auditor key of 3 bytes", base + "auditors: [{name: a, public_key: " + key3 + "}]\n", `job: auditors[0].public_key: auditor "a": 3 bytes, want a 32-byte X25519 public key`},
		{"auditor key not base64", base + "auditors: [{name: a, public_key: '!!'}]\n", `job: auditors[0].public_key: auditor "a": not base64`},
		{"auditor without name", base + "auditors: [{public_key: " + key32 + "}]\n", "job: auditors[0].name: required"},
		{"auditor named coordinator", base + "auditors: [{name: coordinator, public_key: " + key32 + "}]\n", `job: auditors[0].name: "coordinator" is taken`},
		{"auditors repeated", base + "auditors: [{name: a, public_key: " + key32 + "}, {name: a, public_key: " + key32 + "}]\n", `job: auditors[1].name: "a" is taken`},
		{"auditors in a plain job", base + "privacy: plain\nauditors: [{name: a, public_key: " + key32 + "}]\n", "job: auditors: a plain job has no recipients"},
		{"krum f=100 with cohort 3", base + "aggregation: {rule: krum, params: {f: 100}}\n", "job: aggregation: krum with f=100 needs at least 2f+3 = 203 updates a round, but the quorum is 2"},
		{"krum f=1 with quorum 4", withField("cohort_size", "cohort_size: 10") + "quorum: 4\naggregation: {rule: krum, params: {f: 1}}\n", "job: aggregation: krum with f=1 needs at least 2f+3 = 5 updates a round, but the quorum is 4"},
		{"multikrum f=2", withField("cohort_size", "cohort_size: 10") + "quorum: 6\naggregation: {rule: multikrum, params: {f: 2, m: 3}}\n", "job: aggregation: multikrum with f=2 needs at least 2f+3 = 7 updates a round, but the quorum is 6"},
		{"multikrum m > quorum", withField("cohort_size", "cohort_size: 10") + "quorum: 5\naggregation: {rule: multikrum, params: {f: 1, m: 6}}\n", "job: aggregation: multikrum selects m=6 updates, more than the quorum 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "job.yaml")
			if err := os.WriteFile(p, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.text)
			}
			if !strings.Contains(err.Error(), "job file "+p+": ") {
				t.Errorf("error does not name the job file: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
}

func TestGoodJobFiles(t *testing.T) {
	key32 := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for name, text := range map[string]string{
		"krum f=1 with quorum 5":    withField("cohort_size", "cohort_size: 10") + "quorum: 5\naggregation: {rule: krum, params: {f: 1}}\n",
		"krum by default quorum":    withField("cohort_size", "cohort_size: 10") + "aggregation: {rule: krum, params: {f: 1}}\n",
		"trimmedmean beta=0.4":      "aggregation: {rule: trimmedmean, params: {beta: 0.4}}\n" + base,
		"multikrum m = quorum":      withField("cohort_size", "cohort_size: 7") + "quorum: 7\naggregation: {rule: multikrum, params: {f: 2, m: 7}}\n",
		"plain":                     base + "privacy: plain\n",
		"auditor":                   base + "auditors: [{name: a, public_key: " + key32 + "}]\n",
		"lifetime forever":          base + "update_lifetime: 0s\n",
		"lifetime = deadline":       base + "update_lifetime: 60s\n",
		"clip":                      base + "norm_bound: 2.5\nclip: true\n",
		"largest rounds and seed":   withField("rounds", "rounds: 18446744073709551615") + "seed: 18446744073709551615\n",
		"comment after a number":    withField("rounds", "rounds: 3 # three"),
		"quorum 0 means default":    base + "quorum: 0\n",
		"min participants > cohort": base + "min_participants: 10\n",
	} {
		c, err := Parse([]byte(text))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		s, err := c.Spec("c", testKey(t), "logreg:4-3", testCommittee)
		if err != nil {
			t.Errorf("%s: Spec: %v", name, err)
			continue
		}
		if err := CheckSpec(&s); err != nil {
			t.Errorf("%s: CheckSpec: %v", name, err)
		}
	}
}

func TestSpec(t *testing.T) {
	key32 := base64.StdEncoding.EncodeToString(make([]byte, 32))
	c, err := Parse([]byte(base + "seed: 9\nquorum: 2\nmin_participants: 4\ndeadline: 1500ms\nupdate_lifetime: 24h\nnorm_bound: 3\nclip: true\n" +
		"aggregation: {rule: trimmedmean, params: {beta: 0.2}}\nauditors: [{name: aud, public_key: " + key32 + "}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	c.Train.Mu, c.Train.WeightDecay = 0.01, 1e-5
	k := testKey(t)
	s, err := c.Spec("coord", k, "logreg:4-3", testCommittee)
	if err != nil {
		t.Fatal(err)
	}
	want := ledger.JobSpec{
		Version: ledger.Version, Name: "t", Coordinator: "coord", Arch: "logreg:4-3",
		Train:       ledger.TrainParams{Epochs: 1, BatchSize: 1, LR: "0.1", Mu: "0.01", WeightDecay: "1e-05"},
		Aggregation: "trimmedmean(beta=0.2)", Privacy: "sealed",
		Recipients: []ledger.Recipient{k.Recipient("coordinator"), {Name: "aud", KEM: seal.SuiteName, PublicKey: make([]byte, 32)}},
		Committee:  testCommittee, CohortSize: 3, Quorum: 2, DeadlineMillis: 1500, Rounds: 1,
		NormBound: "3", Clip: true, Seed: 9, MinParticipants: 4, UpdateLifetimeMillis: 86400000,
	}
	if s.ID() != want.ID() {
		t.Fatalf("spec\n%+v\nwant\n%+v", s, want)
	}
	if _, err := c.Spec("coord", nil, "logreg:4-3", testCommittee); err == nil {
		t.Error("a sealed job without the coordinator's key was built")
	}
	if _, err := c.Spec("coord", k, "logreg:4-3", nil); err == nil || !strings.HasPrefix(err.Error(), "ledger: job: committee: ") {
		t.Errorf("a job without committee: %v", err)
	}
}

// testPeer returns a deterministic Ed25519 peer ID.
func testPeer(i byte) string {
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = i
	return ledger.PeerID(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
}

// TestSpecAdmission: the admission section reaches the signed job, its
// allow-list sorted and distinct.
func TestSpecAdmission(t *testing.T) {
	a, b := testPeer(1), testPeer(2)
	c, err := Parse([]byte(base + "min_participants: 2\nadmission: {allow: [" + b + ", " + a + ", " + b + "], max_registrations: 50, max_examples: 1000}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Spec("coord", testKey(t), "logreg:4-3", testCommittee)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values([]string{a, b}))
	if !slices.Equal(s.AllowList, want) || s.MaxRegistrations != 50 || s.MaxExamples != 1000 {
		t.Fatalf("admission in the spec: %v %d %d", s.AllowList, s.MaxRegistrations, s.MaxExamples)
	}
}

// TestSpecWalrus: a job whose blobs are on Walrus has no committee, and
// says so in the signed job.
func TestSpecWalrus(t *testing.T) {
	c, err := Parse([]byte(base + "store: walrus\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Spec("coord", testKey(t), "logreg:4-3", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Store != ledger.StoreWalrus || len(s.Committee) != 0 {
		t.Fatalf("store %q committee %v", s.Store, s.Committee)
	}
	if _, err := c.Spec("coord", testKey(t), "logreg:4-3", testCommittee); err == nil {
		t.Fatal("a walrus job with a committee was built")
	}
}

func TestCheckSpec(t *testing.T) {
	c, err := Parse([]byte(withField("cohort_size", "cohort_size: 10") + "quorum: 5\naggregation: {rule: krum, params: {f: 1}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Spec("c", testKey(t), "logreg:4-3", testCommittee)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(s *ledger.JobSpec)
		want   string
	}{
		{"quorum too small for krum", func(s *ledger.JobSpec) { s.Quorum = 4 }, "ledger: job: aggregation: krum with f=1 needs at least 2f+3 = 5 updates"},
		{"rule not canonical", func(s *ledger.JobSpec) { s.Aggregation = "krum(f=1.0)" }, "ledger: job: aggregation: aggregate: rule description"},
		{"unknown rule", func(s *ledger.JobSpec) { s.Aggregation = "magic()" }, "ledger: job: aggregation: aggregate: unknown rule"},
		{"malformed lr", func(s *ledger.JobSpec) { s.Train.LR = "0.o5" }, "ledger: job: train.lr: decimal"},
		{"deadline 0", func(s *ledger.JobSpec) { s.DeadlineMillis = 0 }, "ledger: job: deadline: "},
	} {
		s := s
		s.Recipients = append([]ledger.Recipient(nil), s.Recipients...)
		tc.mutate(&s)
		err := CheckSpec(&s)
		var je *ledger.JobError
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !errors.As(err, &je) {
			t.Errorf("%s: %v, want a *ledger.JobError starting %q", tc.name, err, tc.want)
		}
	}
}

func FuzzJobFile(f *testing.F) {
	b, _ := os.ReadFile(filepath.Join("..", "examples", "job.yaml"))
	f.Add(b)
	f.Add([]byte(base))
	f.Add([]byte("model: logreg:4-3\nrounds: 1\ncohort_size: 1\ntrain: {epochs: 1, batch_size: 1, lr: 0.1}\n"))
	f.Add([]byte(base + "aggregation: {rule: krum, params: {f: 100}}\n"))
	hkey := testKey(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := Parse(b)
		if err != nil {
			return
		}
		// Whatever is accepted makes a valid job spec.
		spec, err := j.Spec("coordinator", hkey, j.Model, testCommittee)
		if err != nil {
			t.Fatalf("accepted job file makes no spec: %v", err)
		}
		if spec.Rounds == 0 || spec.CohortSize == 0 || spec.Quorum == 0 || spec.Quorum > spec.CohortSize {
			t.Fatalf("accepted job with rounds %d cohort %d quorum %d", spec.Rounds, spec.CohortSize, spec.Quorum)
		}
		if _, err := aggregate.ParseCanonical(spec.Aggregation); err != nil {
			t.Fatalf("accepted job with a bad rule: %v", err)
		}
		if err := CheckSpec(&spec); err != nil {
			t.Fatalf("accepted job fails CheckSpec: %v", err)
		}
	})
}

// TestInitialModelPath checks that initial_model replaces model and that
// Load resolves a relative path against the job file's directory.
func TestInitialModelPath(t *testing.T) {
	dir := t.TempDir()
	text := strings.Replace(base, "model: logreg:4-3\n", "initial_model: models/v0.safetensors\n", 1)
	path := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "models", "v0.safetensors"); c.InitialModel != want || c.Model != "" {
		t.Fatalf("initial_model %q, model %q; want %q", c.InitialModel, c.Model, want)
	}
	abs := strings.Replace(text, "models/v0.safetensors", "/srv/m.safetensors", 1)
	if c, err := Parse([]byte(abs)); err != nil || c.InitialModel != "/srv/m.safetensors" {
		t.Fatalf("%+v %v", c, err)
	}
}

// TestSecAggJobFile: privacy secagg makes a job whose ring holds the
// cohort's sum, with the defaults filled in.
func TestSecAggJobFile(t *testing.T) {
	j, err := Parse([]byte(base + "privacy: secagg\nsecagg: {step: 5s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := j.Spec("coordinator", testKey(t), j.Model, testCommittee)
	if err != nil {
		t.Fatal(err)
	}
	p := spec.SecAgg
	if spec.Privacy != "secagg" || p == nil || len(spec.Recipients) != 0 {
		t.Fatalf("privacy %q, params %+v, %d recipients", spec.Privacy, p, len(spec.Recipients))
	}
	// Cohort 3, 2^32 examples, clip 1, 16 fractional bits: 3*2^48 < 2^50.
	if p.Bits != 51 || p.FracBits != 16 || p.Clip != "1" || p.Threshold != "0.66" || p.StepMillis != 5000 || p.Corrupt != "0.3" {
		t.Fatalf("secagg params %+v", *p)
	}
}

// TestTaggedSequenceIsAnError: the YAML library panics on a tagged scalar
// where a sequence of mappings is expected; the job file gives an error,
// never a crash.
func TestTaggedSequenceIsAnError(t *testing.T) {
	_, err := Parse([]byte(base + "auditors: !00000 0\n"))
	if err == nil || !strings.Contains(err.Error(), "malformed YAML") {
		t.Fatalf("got %v, want a malformed-YAML error", err)
	}
}
