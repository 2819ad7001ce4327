package coordinator_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/participant"
	"github.com/floe-fl/floe/round"
)

// TestSecAggRounds runs a secagg job through real libp2p hosts (mocknet),
// real storage nodes and the participant's driver: every round's
// commitment holds the protocol's record, the model moves, and no
// individual update is ever opened (none can be: masked inputs only).
func TestSecAggRounds(t *testing.T) {
	f := secaggFixture(t)
	if f.spec.Privacy != ledger.PrivacySecAgg || f.srv.Job().Job.SecAgg.Bits == 0 || f.srv.Job().Job.MaxUpdateBytes != round.MaskedInputBytes(15, int(f.srv.Job().Job.SecAgg.Bits)) {
		t.Fatalf("job: %+v", f.srv.Job().Job.SecAgg)
	}
	errs := make(chan error, len(f.peers))
	for i, p := range f.peers[:7] {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		d := &model.Dataset{N: 20, D: 4, Classes: 3, X: make([]float32, 80), Y: make([]int, 20)}
		for j := range d.X {
			d.X[j] = float32(rng.NormFloat64())
		}
		for j := range d.Y {
			d.Y[j] = rng.IntN(3)
		}
		pt, err := participant.New(participant.Config{Host: p.h, Key: p.key, Coordinator: f.coord, Store: p.st, Data: d})
		if err != nil {
			t.Fatal(err)
		}
		go func() { errs <- pt.Run(f.ctx) }()
	}
	var last *ledger.SignedCommitment
	for r := uint64(1); r <= f.spec.Rounds; r++ {
		select {
		case c := <-f.heads:
			last = c
		case err := <-f.errc:
			t.Fatalf("coordinator stopped: %v", err)
		case <-f.ctx.Done():
			t.Fatal("timed out waiting for rounds")
		}
		c := last.C
		if c.Round != r || c.Status != ledger.StatusOK || c.SecAgg == nil {
			t.Fatalf("round %d: status %s (%s), secagg record %v", c.Round, c.Status, c.Reason, c.SecAgg != nil)
		}
		if len(c.SecAgg.Keys) != 6 || len(c.SecAgg.Survivors) != 6 || len(c.SecAgg.Reveals) != 6 || len(c.SecAgg.Secrets) != 6 {
			t.Fatalf("round %d: %d keys, %d survivors, %d reveals, %d secrets", r, len(c.SecAgg.Keys), len(c.SecAgg.Survivors), len(c.SecAgg.Reveals), len(c.SecAgg.Secrets))
		}
		if c.OutputModelHash == c.InputModelHash {
			t.Fatalf("round %d did not move the model", r)
		}
	}
	for range 7 {
		if err := <-errs; err != nil {
			t.Fatalf("participant: %v", err)
		}
	}
	f.audit()
}

// secaggFixture is a fixture whose job is secagg (cohort 6 of 7, quorum 3).
func secaggFixture(t *testing.T) *fixture {
	return newFixtureWith(t, t.TempDir(), func(spec *ledger.JobSpec, _ []string) {
		spec.Privacy, spec.NormBound, spec.Quorum = ledger.PrivacySecAgg, "", 3
		spec.SecAgg = &ledger.SecAggParams{FracBits: 16, Clip: "1", Threshold: "0.66", StepMillis: 5000}
	})
}

// view long-polls p's view of round r after step.
func (f *fixture) view(p *peerT, r uint64, after round.SAStep) *round.SAView {
	f.t.Helper()
	for {
		resp := f.call(p, round.Request{Op: round.OpSecAgg, Round: r, AfterStep: after})
		if resp.Status == round.RespWait {
			continue
		}
		if resp.Status != round.RespOK || resp.SecAgg == nil {
			f.t.Fatalf("view of round %d after %s: %+v", r, after, resp)
		}
		return resp.SecAgg
	}
}

// TestSecAggMaskedInputChecked drives the steps by hand over the round
// protocol: a masked input whose stored bytes are not the signed ones is
// refused at receipt (its masks could not be removed later without
// revealing its owner), recorded as the coordinator's word, and the member
// may then send the right one; messages for the wrong step and from
// outsiders are refused and cost nothing; the round commits and audits.
func TestSecAggMaskedInputChecked(t *testing.T) {
	f := secaggFixture(t)
	cohort := f.registerAndWait(f.peers[:7], 1)
	job := &f.srv.Job().Job
	members := map[*peerT]*round.SAMember{}
	for i, p := range cohort {
		m, err := round.NewSAMember(job, 1, p.id(), p.key, rand.NewChaCha8([32]byte{byte(i)}))
		if err != nil {
			t.Fatal(err)
		}
		members[p] = m
	}
	send := func(p *peerT, req round.Request, want ledger.Reason) {
		t.Helper()
		req.Round = 1
		resp := f.call(p, req)
		if (want == "" && resp.Status != round.RespOK) || (want != "" && resp.Reason != want) {
			t.Fatalf("%s from %s: %s %q, want %q", req.Op, p.id(), resp.Status, resp.Reason, want)
		}
	}
	// An outsider's keys and a member's shares before their step.
	outsider := f.peers[7]
	k, _ := members[cohort[0]].Keys()
	send(outsider, round.Request{Op: round.OpKeys, Keys: k}, ledger.ReasonSender)
	for _, p := range cohort {
		k, err := members[p].Keys()
		if err != nil {
			t.Fatal(err)
		}
		send(p, round.Request{Op: round.OpKeys, Keys: k}, "")
	}
	// The status says where the round stands.
	f.view(cohort[0], 1, round.SAKeys)
	if st := f.srv.Snapshot(); st.SecAggStep != "shares" || st.SecAggPending != 6 || st.SecAggDeadlineMillis == 0 {
		t.Fatalf("status: step %q, waiting for %d, deadline %d", st.SecAggStep, st.SecAggPending, st.SecAggDeadlineMillis)
	}
	for _, p := range cohort {
		sh, err := members[p].Shares(f.view(p, 1, round.SAKeys))
		if err != nil {
			t.Fatal(err)
		}
		send(p, round.Request{Op: round.OpShares, Shares: sh}, "")
	}
	for i, p := range cohort {
		v := f.view(p, 1, round.SAShares)
		enc := make([]uint64, f.global.Len()+1)
		delta := make([]float32, f.global.Len())
		for j := range delta {
			delta[j] = 0.01 * float32(i+j)
		}
		if err := round.SecAggUpdate(job, enc, delta, 10, [32]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		b, err := members[p].Masked(v, enc)
		if err != nil {
			t.Fatal(err)
		}
		sub := func(stored []byte) *ledger.SignedSubmission {
			id, cert, err := p.st.Put(f.ctx, stored, 0)
			if err != nil {
				t.Fatal(err)
			}
			s := ledger.Submission{Job: job.ID(), Round: 1, Participant: p.id(), Blob: id, UpdateHash: ledger.Sum(b), NumExamples: 10, UpdateSize: uint64(len(b))}
			sig, err := ledger.SignSubmission(p.key, s)
			if err != nil {
				t.Fatal(err)
			}
			return &ledger.SignedSubmission{Sub: s, Sig: sig, Cert: cert}
		}
		if i == 0 {
			bad := slices.Clone(b)
			bad[3] ^= 1
			f.expect(p, sub(bad), ledger.ReasonMaskedInput)
		}
		f.expect(p, sub(b), "")
	}
	for _, p := range cohort {
		sig, err := members[p].SignSurvivors(f.view(p, 1, round.SAMasked))
		if err != nil {
			t.Fatal(err)
		}
		send(p, round.Request{Op: round.OpSurvivors, Sig: sig}, "")
	}
	for _, p := range cohort {
		rev, err := members[p].Reveal(f.view(p, 1, round.SASurvivors))
		if err != nil {
			t.Fatal(err)
		}
		send(p, round.Request{Op: round.OpReveal, Reveal: rev}, "")
	}
	c := <-f.heads
	if c.C.Status != ledger.StatusOK || len(c.C.SecAgg.Survivors) != 6 {
		t.Fatalf("round 1: %s (%s), %d survivors", c.C.Status, c.C.Reason, len(c.C.SecAgg.Survivors))
	}
	rejected := 0
	for _, r := range c.C.Submissions {
		if r.Status == ledger.StatusRejected && r.Reason == ledger.ReasonMaskedInput && r.Signed.Sub.Participant == cohort[0].id() {
			rejected++
		}
	}
	if rejected != 1 {
		t.Fatalf("the refused masked input is recorded %d times", rejected)
	}
	f.audit()
}
