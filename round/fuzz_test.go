package round

import (
	"bytes"
	"testing"

	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/ledger"
)

func FuzzRequest(f *testing.F) {
	var buf bytes.Buffer
	codec.WriteMsg(&buf, Request{Op: OpSubmit, Sub: &ledger.SignedSubmission{Sub: ledger.Submission{Round: 1, Participant: "x"}, Sig: []byte{1}}})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		var req Request
		if err := codec.ReadMsg(bytes.NewReader(b), MaxRequestSize, &req); err != nil {
			return
		}
		m := New(&ledger.JobSpec{}, ledger.BlobID{}, nil)
		if req.Sub != nil {
			// Whatever decodes is judged without panicking.
			m.Check("x", req.Sub)
		}
	})
}

func FuzzResponse(f *testing.F) {
	var buf bytes.Buffer
	codec.WriteMsg(&buf, Response{Status: RespOK, Task: &Task{Round: 3, DeadlineMillis: 9}, Job: []byte{'J', 0xa0}})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		var resp Response
		if err := codec.ReadMsg(bytes.NewReader(b), MaxRequestSize+ledger.MaxRecordSize, &resp); err != nil {
			return
		}
		// What a participant decodes re-encodes to the same value.
		var out bytes.Buffer
		if err := codec.WriteMsg(&out, resp); err != nil {
			t.Fatal(err)
		}
		var again Response
		if err := codec.ReadMsg(&out, MaxRequestSize+ledger.MaxRecordSize, &again); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzEvent decodes journal records (bytes from disk) and applies them to a
// machine: whatever decodes is applied or refused, never a panic, and a
// refused event leaves the state as it was.
func FuzzEvent(f *testing.F) {
	for _, ev := range []Event{
		{Kind: EvRegister, Peer: "p", NumExamples: 3},
		{Kind: EvStartRound, Round: 1, Millis: 5, Candidates: []string{"p"}},
		{Kind: EvSubmit, Peer: "p", Sub: &ledger.SignedSubmission{Sub: ledger.Submission{Round: 1, Participant: "p", NumExamples: 1}}},
		{Kind: EvReject, Peer: "q", Reason: ledger.ReasonMalformed},
		{Kind: EvClose, Round: 1, Millis: 9},
		{Kind: EvCommit, Round: 1, Commit: &CommitInfo{Head: ledger.BlobID{1}}},
	} {
		b, err := codec.Marshal(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := New(&ledger.JobSpec{CohortSize: 2, Quorum: 1, Rounds: 2, DeadlineMillis: 10}, ledger.BlobID{7}, nil)
		m.Apply(Event{Kind: EvRegister, Peer: "p", NumExamples: 1})
		var ev Event
		if err := codec.Unmarshal(b, &ev); err != nil {
			return
		}
		before := m.Round()
		if _, err := m.Apply(ev); err != nil && m.Round() != before {
			t.Fatalf("a refused event changed the round: %v", err)
		}
		m.Tick(1 << 40)
		m.Ready()
	})
}
