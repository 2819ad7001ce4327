package round

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/floe-fl/floe/ledger"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func coreKey(t *testing.T, b byte) (crypto.PrivKey, string) {
	k, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{b}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	return k, id.String()
}

// TestMachineReplay: the same events give the same state, and events that do
// not fit the state are refused without changing it.
func TestMachineReplay(t *testing.T) {
	ck, cid := coreKey(t, 9)
	sj, err := ledger.SignJob(ck, ledger.JobSpec{Version: ledger.Version, Coordinator: cid, CohortSize: 2, Quorum: 1, DeadlineMillis: 100, Rounds: 2, MinParticipants: 3})
	if err != nil {
		t.Fatal(err)
	}
	var keys []crypto.PrivKey
	var ids []string
	for i := 0; i < 3; i++ {
		k, id := coreKey(t, byte(i+1))
		keys, ids = append(keys, k), append(ids, id)
	}
	fresh := func() *Machine { return New(&sj.Job, ledger.BlobID{7}, nil) }
	c := fresh()
	var evs []Event
	step := func(ev Event) ledger.Reason {
		t.Helper()
		r, err := c.Apply(ev)
		if err != nil {
			t.Fatalf("event %+v: %v", ev, err)
		}
		evs = append(evs, ev)
		return r
	}
	for _, id := range ids {
		step(Event{Kind: EvRegister, Peer: id, NumExamples: 5})
	}
	if !c.shouldStart() {
		t.Fatal("three registered of three needed, and no round starts")
	}
	// Out-of-order events are refused and change nothing.
	before := *c
	if _, err := c.Apply(Event{Kind: EvStartRound, Round: 2}); err == nil {
		t.Fatal("started round 2 before round 1")
	}
	if _, err := c.Apply(Event{Kind: EvClose, Round: 1}); err == nil {
		t.Fatal("closed a round that is not open")
	}
	if !reflect.DeepEqual(before, *c) {
		t.Fatal("a refused event changed the state")
	}
	step(Event{Kind: EvStartRound, Round: 1, Millis: 1000, Candidates: ids})
	if len(c.cohort) != 2 || c.deadlineMillis != 1100 {
		t.Fatalf("cohort %v deadline %d", c.cohort, c.deadlineMillis)
	}
	member := c.cohort[0]
	mk := keys[indexOf(ids, member)]
	sub := ledger.Submission{Job: c.jobID, Round: 1, Participant: member, NumExamples: 5}
	sig, _ := ledger.SignSubmission(mk, sub)
	if r := step(Event{Kind: EvSubmit, Peer: member, Millis: 1010, Sub: &ledger.SignedSubmission{Sub: sub, Sig: sig}}); r != "" {
		t.Fatalf("valid submission rejected: %s", r)
	}
	if c.shouldClose(1050) || !c.shouldClose(1100) {
		t.Fatal("round closes before its deadline, or not at it")
	}
	step(Event{Kind: EvClose, Round: 1, Millis: 1100})
	step(Event{Kind: EvCommit, Round: 1, Commit: &CommitInfo{Head: ledger.BlobID{8}, Model: ledger.BlobID{9}}})
	// A clock that stepped back does not make round 2 close before round 1.
	step(Event{Kind: EvStartRound, Round: 2, Millis: 500, Candidates: ids})
	step(Event{Kind: EvClose, Round: 2, Millis: 600})
	if c.closeMillis != 1100 {
		t.Fatalf("close time ran backwards: %d", c.closeMillis)
	}
	// Replaying the journal's events gives the same state.
	r := fresh()
	for _, ev := range evs {
		if _, err := r.Apply(ev); err != nil {
			t.Fatal(err)
		}
	}
	r.verify, c.verify = nil, nil
	if !reflect.DeepEqual(r, c) {
		t.Fatalf("replay differs:\n%+v\n%+v", r, c)
	}
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}
