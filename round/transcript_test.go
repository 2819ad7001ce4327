package round_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/round/roundsim"
	"github.com/floe-fl/floe/secagg"
)

// The round machine's transcript tests: testdata/transcripts/*.txt are
// scripts of commands and the machine's answers, run by package roundsim in
// one goroutine on simulated time with seeded keys, in the style of
// etcd-io/raft's interaction tests. Rewrite the expected output with
// `go test ./round -run Transcripts -rewrite`.
//
// Commands:
//
//	job [cohort=N] [quorum=N] [min=N] [rounds=N] [deadline=MS] [norm=X] [rule=NAME]
//	    [allow=P1,P2,...] [max-registrations=N] [max-examples=N]
//	register p1 p2 ... [examples=N]
//	tick MS                advance the clock by MS and tick
//	submit P [from=Q] [round=N] [examples=N] [size=N] [cert=bad] [sig=bad] [job=wrong] [update=good|nan|big|shape|hash|missing]
//	reject P malformed|oversized
//	fold                   run the closed round's fold (Ready.Fold)
//	commit                 store the built commitment (Ready.Commit) and step the commit
//	crash                  lose the machine; rebuild it from the journal
//	commitment             print the last commitment stored
//	state                  print the machine's state
//
// After every command the driver persists Ready's events to the journal and
// prints them, then prints the replies and the work made ready.
func TestTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata/transcripts", func(t *testing.T, path string) {
		var sim *roundsim.Sim
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "job" && sim == nil {
				d.Fatalf(t, "%s before job", d.Cmd)
			}
			var out []string
			var err error
			switch d.Cmd {
			case "job":
				sim, out = newJob(t, d)
			case "register":
				n := uint64(10)
				if d.HasArg("examples") {
					n = uintArg(t, d, "examples")
				}
				for _, a := range d.CmdArgs {
					if a.Key != "examples" {
						out = append(out, sim.Register(a.Key, n)...)
					}
				}
			case "tick":
				ms, err := strconv.ParseUint(d.CmdArgs[0].Key, 10, 64)
				if err != nil {
					d.Fatalf(t, "tick MS: %v", err)
				}
				out = sim.Tick(ms)
			case "submit":
				out, err = sim.Submit(d.CmdArgs[0].Key, submission(t, d))
			case "reject":
				out = sim.Reject(d.CmdArgs[0].Key, ledger.Reason(d.CmdArgs[1].Key))
			case "fold":
				out, err = sim.Fold()
			case "commit":
				out, err = sim.Commit()
			case "crash":
				out, err = sim.Crash()
			case "keys", "shares", "masked", "sign", "reveal":
				out, err = secaggCmd(t, sim, d)
			case "commitment":
				out = printCommitment(sim)
			case "state":
				out = printState(sim)
			default:
				d.Fatalf(t, "unknown command %q", d.Cmd)
			}
			if err != nil {
				out = append(out, "error: "+err.Error())
			}
			if len(out) == 0 {
				return ""
			}
			return strings.Join(out, "\n") + "\n"
		})
	})
}

func uintArg(t *testing.T, d *datadriven.TestData, key string) uint64 {
	var s string
	d.ScanArgs(t, key, &s)
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		d.Fatalf(t, "%s: %v", key, err)
	}
	return n
}

func strArg(t *testing.T, d *datadriven.TestData, key, def string) string {
	if !d.HasArg(key) {
		return def
	}
	var s string
	d.ScanArgs(t, key, &s)
	return s
}

func newJob(t *testing.T, d *datadriven.TestData) (*roundsim.Sim, []string) {
	cfg := roundsim.Default()
	for _, f := range []struct {
		key string
		dst *uint64
	}{{"cohort", &cfg.CohortSize}, {"quorum", &cfg.Quorum}, {"min", &cfg.MinParticipants}, {"rounds", &cfg.Rounds}, {"deadline", &cfg.DeadlineMillis},
		{"max-registrations", &cfg.MaxRegistrations}, {"max-examples", &cfg.MaxExamples}} {
		if d.HasArg(f.key) {
			*f.dst = uintArg(t, d, f.key)
		}
	}
	cfg.NormBound = strArg(t, d, "norm", cfg.NormBound)
	cfg.Rule = strArg(t, d, "rule", cfg.Rule)
	if a := strArg(t, d, "allow", ""); a != "" {
		cfg.AllowList = strings.Split(a, ",")
	}
	if d.HasArg("secagg") {
		cfg.SecAgg = roundsim.DefaultSecAgg()
		cfg.NormBound = ""
	}
	sim, err := roundsim.New(cfg)
	if err != nil {
		d.Fatalf(t, "job: %v", err)
	}
	j := sim.Job().Job
	out := []string{fmt.Sprintf("job: cohort %d quorum %d min %d rounds %d deadline %dms rule %s",
		j.CohortSize, j.Quorum, j.MinParticipants, j.Rounds, j.DeadlineMillis, j.Aggregation)}
	if p := j.SecAgg; p != nil {
		out = append(out, fmt.Sprintf("secagg: ring 2^%d, %d fractional bits, clip %s, threshold %s, steps of %dms, masked inputs of %d bytes",
			p.Bits, p.FracBits, p.Clip, p.Threshold, p.StepMillis, j.MaxUpdateBytes))
	}
	return sim, out
}

// secaggCmd runs a secagg step command for each name given: keys, shares
// [bad=envelopes|sig], masked, sign, reveal [bad=both|share].
func secaggCmd(t *testing.T, sim *roundsim.Sim, d *datadriven.TestData) ([]string, error) {
	bad := strArg(t, d, "bad", "")
	var out []string
	for _, a := range d.CmdArgs {
		if a.Key == "bad" {
			continue
		}
		n := a.Key
		var lines []string
		var err error
		switch d.Cmd {
		case "keys":
			lines, err = sim.SAKeys(n)
		case "shares":
			var tamper func(*ledger.SignedShares)
			switch bad {
			case "envelopes":
				tamper = func(sh *ledger.SignedShares) { sh.Envelopes = sh.Envelopes[1:] }
			case "sig":
				tamper = func(sh *ledger.SignedShares) { sh.Sig[0] ^= 1 }
			}
			lines, err = sim.SAShares(n, tamper)
		case "masked":
			lines, err = sim.SAMasked(n, nil)
		case "sign":
			lines, err = sim.SASign(n)
		case "reveal":
			var tamper func(*ledger.SignedReveal)
			if bad != "" {
				tamper = func(r *ledger.SignedReveal) {
					var rs secagg.RevealedShare
					if err := rs.UnmarshalBinary(r.Rev.Shares[0]); err != nil {
						t.Fatal(err)
					}
					if bad == "both" {
						rs.Kind = 3 - rs.Kind // the other secret of the same member
					} else {
						rs.Value[1] ^= 1
					}
					r.Rev.Shares[0], _ = rs.MarshalBinary()
				}
			}
			lines, err = sim.SAReveal(n, tamper)
		}
		if err != nil {
			out = append(out, fmt.Sprintf("%s %s: error: %v", d.Cmd, n, err))
			continue
		}
		out = append(out, lines...)
	}
	return out, nil
}

func submission(t *testing.T, d *datadriven.TestData) roundsim.Submission {
	o := roundsim.Submission{From: strArg(t, d, "from", ""), Update: strArg(t, d, "update", roundsim.UpdateGood)}
	if d.HasArg("round") {
		r := uintArg(t, d, "round")
		o.Round = &r
	}
	if d.HasArg("examples") {
		n := uintArg(t, d, "examples")
		o.Examples = &n
	}
	if d.HasArg("size") {
		n := uintArg(t, d, "size")
		o.Size = &n
	}
	o.BadCert = strArg(t, d, "cert", "") == "bad"
	o.BadSig = strArg(t, d, "sig", "") == "bad"
	o.WrongJob = strArg(t, d, "job", "") == "wrong"
	return o
}

func names(sim *roundsim.Sim, ids []string) string {
	var out []string
	for _, id := range ids {
		out = append(out, sim.Name(id))
	}
	return strings.Join(out, " ")
}

func printCommitment(sim *roundsim.Sim) []string {
	c := sim.Last()
	if c == nil {
		return []string{"no commitment"}
	}
	head := fmt.Sprintf("round %d %s", c.Round, c.Status)
	if c.Reason != "" {
		head += " (" + c.Reason + ")"
	}
	out := []string{head, fmt.Sprintf("cohort [%s] opened after %d receipts, closed at %dms, dropped %d", names(sim, c.Cohort), c.Opened, c.TimeMillis, c.DroppedRejects)}
	for _, s := range c.Submissions {
		l := fmt.Sprintf("  #%d %s round=%d %s", s.Arrival, sim.Name(s.Signed.Sub.Participant), s.Signed.Sub.Round, s.Status)
		if s.Reason != "" {
			l += " (" + string(s.Reason) + ")"
		}
		if s.Share != 0 {
			l += fmt.Sprintf(" share=%d", s.Share)
		}
		out = append(out, l)
	}
	if sa := c.SecAgg; sa != nil {
		var keys, shared, signed, revealed, secrets, excluded []string
		for _, k := range sa.Keys {
			keys = append(keys, sim.Name(k.Adv.Participant))
		}
		for _, h := range sa.Shares {
			shared = append(shared, sim.Name(h.Hdr.Participant))
		}
		for _, sg := range sa.Signatures {
			signed = append(signed, sim.Name(sg.Participant))
		}
		for _, r := range sa.Reveals {
			revealed = append(revealed, fmt.Sprintf("%s(%d)", sim.Name(r.Rev.Participant), len(r.Rev.Shares)))
		}
		for _, r := range sa.Secrets {
			kind := "self-mask"
			if r.Kind == uint8(secagg.KindMaskKey) {
				kind = "mask-key"
			}
			secrets = append(secrets, sim.Name(r.Participant)+":"+kind)
		}
		for _, e := range sa.Excluded {
			excluded = append(excluded, fmt.Sprintf("%s at %s (%s)", sim.Name(e.Participant), e.Step, e.Reason))
		}
		out = append(out,
			fmt.Sprintf("secagg keys [%s] shared [%s] survivors [%s] signed [%s]", strings.Join(keys, " "), strings.Join(shared, " "), names(sim, sa.Survivors), strings.Join(signed, " ")),
			fmt.Sprintf("secagg reveals [%s] secrets [%s]", strings.Join(revealed, " "), strings.Join(secrets, " ")))
		if len(excluded) > 0 {
			out = append(out, "secagg excluded: "+strings.Join(excluded, "; "))
		}
	}
	return append(out, fmt.Sprintf("model changed: %v", c.OutputModel != c.InputModel))
}

func printState(sim *roundsim.Sim) []string {
	m := sim.Machine()
	var accepted []string
	for _, p := range m.Cohort() {
		if m.Submitted(p) {
			accepted = append(accepted, sim.Name(p))
		}
	}
	receipts, opened := m.Receipts()
	return []string{fmt.Sprintf("round %d %s registered %d cohort [%s] accepted [%s] receipts %d (opened after %d)",
		m.Round(), m.Phase(), m.NumRegistered(), names(sim, m.Cohort()), strings.Join(accepted, " "), len(receipts), opened)}
}
