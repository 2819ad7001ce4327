package ledger

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// validJob is a sealed job that passes Validate.
func validJob() JobSpec {
	return JobSpec{
		Version: Version, Name: "t", Coordinator: "12D3KooWcoordinator", Arch: "logreg:60-10",
		Train:       TrainParams{Epochs: 1, BatchSize: 10, LR: "0.05", Mu: "0.01", WeightDecay: "0.0001"},
		Aggregation: "fedavg(dp_clip=0,dp_noise_multiplier=0)", Privacy: "sealed",
		Recipients: []Recipient{
			{Name: "coordinator", KEM: KEMX25519, PublicKey: make([]byte, 32)},
			{Name: "auditor", KEM: KEMX25519, PublicKey: make([]byte, 32)},
		},
		Committee:  []string{"/ip4/10.0.0.1/tcp/1/p2p/a", "/ip4/10.0.0.2/tcp/1/p2p/b"},
		CohortSize: 3, Quorum: 2, DeadlineMillis: 60000, Rounds: 5, NormBound: "10", Clip: true,
		Seed: 1, MinParticipants: 3, UpdateLifetimeMillis: 86400000,
	}
}

// sortedPeers returns n distinct Ed25519 peer IDs, sorted.
func sortedPeers(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		seed := make([]byte, ed25519.SeedSize)
		seed[0] = byte(i + 1)
		out = append(out, PeerID(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)))
	}
	slices.Sort(out)
	return out
}

func TestJobSpecValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(j *JobSpec)
		err    string // "" means valid; else the whole prefix of the error text
	}{
		{"valid", func(j *JobSpec) {}, ""},
		{"plain", func(j *JobSpec) { j.Privacy, j.Recipients = "plain", nil }, ""},
		{"secagg", secaggJob(nil), ""},
		{"secagg without params", secaggJob(func(j *JobSpec) { j.SecAgg = nil }), "ledger: job: secagg: a secagg job needs its parameters"},
		{"secagg params in a sealed job", func(j *JobSpec) { j.SecAgg = &SecAggParams{} }, "ledger: job: secagg: parameters in a sealed job"},
		{"secagg with recipients", secaggJob(func(j *JobSpec) { j.Recipients = []Recipient{{Name: "a", KEM: KEMX25519, PublicKey: make([]byte, 32)}} }), "ledger: job: recipients: 1 recipients in a secagg job, want none"},
		{"secagg cohort of two", secaggJob(func(j *JobSpec) { j.CohortSize, j.Quorum = 2, 2 }), "ledger: job: cohort_size: 2, secure aggregation needs at least 3"},
		{"secagg threshold half", secaggJob(func(j *JobSpec) { j.SecAgg.Threshold = "0.5" }), `ledger: job: secagg.threshold: "0.5", want a decimal in (0.5, 1]`},
		{"secagg ring too small", secaggJob(func(j *JobSpec) { j.SecAgg.Bits = 40 }), "ledger: job: secagg.bits: 40: "},
		{"secagg zero clip", secaggJob(func(j *JobSpec) { j.SecAgg.Clip = "0" }), `ledger: job: secagg.clip: "0", want a decimal > 0`},
		{"secagg no step", secaggJob(func(j *JobSpec) { j.SecAgg.StepMillis = 0 }), "ledger: job: secagg.step: 0ms"},
		{"secagg corrupt out of range", secaggJob(func(j *JobSpec) { j.SecAgg.Corrupt = "0.5" }), `ledger: job: secagg.corrupt: "0.5", want a decimal in [0, 0.5)`},
		{"secagg threshold unsafe", secaggJob(func(j *JobSpec) {
			j.CohortSize, j.SecAgg.Bits, j.SecAgg.Threshold, j.SecAgg.Corrupt = 30, 54, "0.6", "0.25"
		}), "ledger: job: secagg.threshold: 0.6 does not protect members"},
		{"optional decimals absent", func(j *JobSpec) { j.Train.Mu, j.Train.WeightDecay, j.NormBound, j.Clip = "", "", "", false }, ""},
		{"zero decimals", func(j *JobSpec) { j.Train.Mu, j.Train.WeightDecay, j.NormBound, j.Clip = "0", "0", "0", false }, ""},
		{"lifetime forever", func(j *JobSpec) { j.UpdateLifetimeMillis = 0 }, ""},
		{"lifetime = deadline", func(j *JobSpec) { j.UpdateLifetimeMillis = j.DeadlineMillis }, ""},
		{"quorum = cohort", func(j *JobSpec) { j.Quorum = j.CohortSize }, ""},
		{"largest cohort", func(j *JobSpec) { j.CohortSize = MaxCohort }, ""},
		{"allow-list", func(j *JobSpec) { j.AllowList = sortedPeers(3) }, ""},
		{"allow-list not a peer", func(j *JobSpec) { j.AllowList = []string{"alice"} }, `ledger: job: admission.allow[0]: "alice" is not an Ed25519 peer ID`},
		{"allow-list unsorted", func(j *JobSpec) { p := sortedPeers(2); j.AllowList = []string{p[1], p[0]} }, "ledger: job: admission.allow: not sorted and distinct at 1"},
		{"allow-list too short", func(j *JobSpec) { j.AllowList = sortedPeers(1); j.MinParticipants = 2 }, "ledger: job: admission.allow: 1 peers, fewer than min_participants 2"},
		{"registrations below min", func(j *JobSpec) { j.MaxRegistrations = 1; j.MinParticipants = 2 }, "ledger: job: admission.max_registrations: 1, fewer than min_participants 2"},
		{"examples bound", func(j *JobSpec) { j.MaxExamples = MaxProtocolExamples + 1 }, "ledger: job: admission.max_examples: 4294967297, want at most"},
		{"commitment past the record limit", func(j *JobSpec) {
			j.CohortSize, j.MaxRegistrations = 200_000, 200_000
			for i := 0; i < 100; i++ {
				j.Committee = append(j.Committee, fmt.Sprintf("/ip4/10.0.1.%d/tcp/1/p2p/n%d", i, i))
			}
		}, "ledger: job: cohort_size: a round's commitment could reach"},

		{"version", func(j *JobSpec) { j.Version = 2 }, "ledger: job: version: 2, want 1"},
		{"name", func(j *JobSpec) { j.Name = "" }, "ledger: job: name: empty"},
		{"coordinator", func(j *JobSpec) { j.Coordinator = "" }, "ledger: job: coordinator: empty"},
		{"arch", func(j *JobSpec) { j.Arch = "" }, "ledger: job: model: empty"},
		{"aggregation", func(j *JobSpec) { j.Aggregation = "" }, "ledger: job: aggregation: empty"},
		{"epochs", func(j *JobSpec) { j.Train.Epochs = 0 }, "ledger: job: train.epochs: 0, want 1 to"},
		{"epochs huge", func(j *JobSpec) { j.Train.Epochs = 1 << 40 }, "ledger: job: train.epochs: 1099511627776, want 1 to"},
		{"batch", func(j *JobSpec) { j.Train.BatchSize = 0 }, "ledger: job: train.batch_size: 0, want 1 to"},
		{"lr absent", func(j *JobSpec) { j.Train.LR = "" }, "ledger: job: train.lr: decimal: not a canonical finite decimal: empty"},
		{"lr malformed", func(j *JobSpec) { j.Train.LR = "0.o5" }, "ledger: job: train.lr: decimal: not a canonical finite decimal: \"0.o5\" has the character 'o'"},
		{"lr not canonical", func(j *JobSpec) { j.Train.LR = "0.050" }, "ledger: job: train.lr: decimal: not a canonical finite decimal: \"0.050\" is not canonical (want \"0.05\")"},
		{"lr NaN", func(j *JobSpec) { j.Train.LR = "NaN" }, "ledger: job: train.lr: decimal"},
		{"lr Inf", func(j *JobSpec) { j.Train.LR = "+Inf" }, "ledger: job: train.lr: decimal"},
		{"lr zero", func(j *JobSpec) { j.Train.LR = "0" }, "ledger: job: train.lr: 0, want > 0"},
		{"lr negative", func(j *JobSpec) { j.Train.LR = "-0.1" }, "ledger: job: train.lr: -0.1, want > 0"},
		{"mu malformed", func(j *JobSpec) { j.Train.Mu = "1e400" }, "ledger: job: train.mu: decimal: not a canonical finite decimal: \"1e400\" is out of range"},
		{"mu negative", func(j *JobSpec) { j.Train.Mu = "-1" }, "ledger: job: train.mu: -1, want >= 0"},
		{"weight decay malformed", func(j *JobSpec) { j.Train.WeightDecay = "x" }, "ledger: job: train.weight_decay: decimal"},
		{"weight decay negative", func(j *JobSpec) { j.Train.WeightDecay = "-1e-05" }, "ledger: job: train.weight_decay: -1e-05, want >= 0"},
		{"privacy", func(j *JobSpec) { j.Privacy = "secret" }, "ledger: job: privacy: \"secret\", want sealed, secagg or plain"},
		{"privacy empty", func(j *JobSpec) { j.Privacy = "" }, "ledger: job: privacy: \"\", want sealed, secagg or plain"},
		{"plain with recipients", func(j *JobSpec) { j.Privacy = "plain" }, "ledger: job: recipients: 2 recipients in a plain job, want none"},
		{"sealed without recipients", func(j *JobSpec) { j.Recipients = nil }, "ledger: job: recipients: a sealed job needs at least one"},
		{"recipient name", func(j *JobSpec) { j.Recipients[1].Name = "" }, "ledger: job: recipients[1].name: empty"},
		{"recipient repeated", func(j *JobSpec) { j.Recipients[1].Name = "coordinator" }, "ledger: job: recipients[1].name: \"coordinator\" repeated"},
		{"recipient KEM", func(j *JobSpec) { j.Recipients[1].KEM = "RSA" }, "ledger: job: recipients[1].kem: \"RSA\" (recipient \"auditor\"), want one of " + KEMX25519},
		{"recipient key of 3 bytes", func(j *JobSpec) { j.Recipients[1].PublicKey = []byte{1, 2, 3} }, "ledger: job: recipients[1].public_key: 3 bytes (recipient \"auditor\"), want 32 for " + KEMX25519},
		{"recipient key empty", func(j *JobSpec) { j.Recipients[0].PublicKey = nil }, "ledger: job: recipients[0].public_key: 0 bytes"},
		{"recipient key of 33 bytes", func(j *JobSpec) { j.Recipients[0].PublicKey = make([]byte, 33) }, "ledger: job: recipients[0].public_key: 33 bytes"},
		{"committee", func(j *JobSpec) { j.Committee = nil }, "ledger: job: committee: empty"},
		{"committee entry", func(j *JobSpec) { j.Committee[1] = "" }, "ledger: job: committee[1]: empty"},
		{"committee repeated", func(j *JobSpec) { j.Committee[1] = j.Committee[0] }, "ledger: job: committee[1]: \"/ip4/10.0.0.1/tcp/1/p2p/a\" repeated"},
		{"cohort 0", func(j *JobSpec) { j.CohortSize = 0 }, "ledger: job: cohort_size: 0, want 1 to 1073741824"},
		{"cohort 2^30+1", func(j *JobSpec) { j.CohortSize = MaxCohort + 1 }, "ledger: job: cohort_size: 1073741825, want 1 to 1073741824"},
		{"quorum 0", func(j *JobSpec) { j.Quorum = 0 }, "ledger: job: quorum: 0, want 1 to the cohort size 3"},
		{"quorum > cohort", func(j *JobSpec) { j.Quorum = 4 }, "ledger: job: quorum: 4, want 1 to the cohort size 3"},
		{"min participants 0", func(j *JobSpec) { j.MinParticipants = 0 }, "ledger: job: min_participants: 0, want 1 to"},
		{"min participants huge", func(j *JobSpec) { j.MinParticipants = 1 << 31 }, "ledger: job: min_participants: 2147483648, want 1 to"},
		{"deadline 0", func(j *JobSpec) { j.DeadlineMillis = 0 }, "ledger: job: deadline: 0ms, want at least 1ms"},
		{"rounds 0", func(j *JobSpec) { j.Rounds = 0 }, "ledger: job: rounds: 0, want at least 1"},
		{"lifetime < deadline", func(j *JobSpec) { j.UpdateLifetimeMillis = 1 }, "ledger: job: update_lifetime: 1ms is shorter than the deadline 60000ms"},
		{"norm bound malformed", func(j *JobSpec) { j.NormBound = "ten" }, "ledger: job: norm_bound: decimal"},
		{"norm bound negative", func(j *JobSpec) { j.NormBound = "-10" }, "ledger: job: norm_bound: -10, want >= 0"},
		{"clip without bound", func(j *JobSpec) { j.NormBound = "" }, "ledger: job: clip: needs a norm_bound > 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := validJob()
			tc.mutate(&j)
			before := j.ID()
			err := j.Validate()
			if j.ID() != before {
				t.Fatal("Validate modified the job")
			}
			if tc.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want %q", tc.err)
			}
			if !strings.HasPrefix(err.Error(), tc.err) {
				t.Fatalf("error %q, want it to start with %q", err, tc.err)
			}
			var je *JobError
			if !errors.As(err, &je) || !strings.HasPrefix(tc.err, "ledger: job: "+je.Field+": ") {
				t.Fatalf("error %v is not a *JobError naming its field", err)
			}
		})
	}
}

// secaggJob returns a mutation making validJob a secagg job (cohort 3,
// clip 1, 16 fractional bits, the 2^32-example bound: a 51-bit sum), then
// applying more.
func secaggJob(more func(j *JobSpec)) func(j *JobSpec) {
	return func(j *JobSpec) {
		j.Privacy, j.Recipients = PrivacySecAgg, nil
		j.SecAgg = &SecAggParams{Bits: 51, FracBits: 16, Clip: "1", Threshold: "0.66", StepMillis: 1000}
		if more != nil {
			more(j)
		}
	}
}

// TestSecAggSafe checks the bound against a direct count: a coordinator
// colluding with c of a member's k holders gets both secrets when two
// groups of the k-c honest holders (each told a different story), each
// topped up with the c corrupt ones, reach need.
func TestSecAggSafe(t *testing.T) {
	for _, th := range []string{"0.51", "0.6", "0.66", "0.75", "1"} {
		for _, cr := range []string{"0", "0.1", "0.25", "0.3", "0.49"} {
			want, wantK := true, 0
			for k := 1; k <= 60 && want; k++ {
				need := SecAggNeed(th, k)
				c := int(math.Floor(mustFloat(cr)*float64(k) + 1e-9))
				// Best split of the honest holders into two groups.
				h := k - c
				if h/2+c >= need && (h-h/2)+c >= need {
					want, wantK = false, k
				}
			}
			ok, k := SecAggSafe(th, cr, 60)
			if ok != want || k != wantK {
				t.Errorf("SecAggSafe(%s, %s) = %v at %d, counting says %v at %d", th, cr, ok, k, want, wantK)
			}
		}
	}
}

func TestSecAggNeed(t *testing.T) {
	for _, tc := range []struct {
		th      string
		holders int
		want    int
	}{
		{"0.66", 2, 2}, {"0.66", 3, 2}, {"0.66", 4, 3}, {"0.66", 6, 4}, {"0.66", 28, 19},
		{"1", 5, 5}, {"0.51", 1, 2}, {"bad", 4, math.MaxInt},
	} {
		if got := SecAggNeed(tc.th, tc.holders); got != tc.want {
			t.Errorf("SecAggNeed(%s, %d) = %d, want %d", tc.th, tc.holders, got, tc.want)
		}
	}
}
