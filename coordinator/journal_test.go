package coordinator

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/ledger"
)

func TestJournalTornTailAndCorruption(t *testing.T) {
	p := filepath.Join(t.TempDir(), "journal")
	j, evs, err := OpenJournal(p)
	if err != nil || len(evs) != 0 {
		t.Fatal(err, len(evs))
	}
	for i := 1; i <= 3; i++ {
		if err := j.Append(Event{Kind: EvRegister, Peer: "p", NumExamples: uint64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	full, _ := os.ReadFile(p)
	// Every torn tail (a crash mid-append) loses at most the last record.
	for cut := len(full) - 1; cut > 0; cut-- {
		os.WriteFile(p, full[:cut], 0o600)
		j, evs, err := OpenJournal(p)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if len(evs) < 2 && cut > len(full)*2/3+2 {
			t.Fatalf("cut at %d lost more than the torn record: %d events", cut, len(evs))
		}
		// Appending after recovery yields a clean journal.
		j.Append(Event{Kind: EvRegister, Peer: "q", NumExamples: 9})
		j.Close()
		_, evs2, err := OpenJournal(p)
		if err != nil || len(evs2) != len(evs)+1 {
			t.Fatalf("cut at %d: after recovery %d events, err %v", cut, len(evs2), err)
		}
	}
	// A flipped byte in the middle is corruption, not silently dropped data.
	bad := bytes.Clone(full)
	bad[5] ^= 0x40
	os.WriteFile(p, bad, 0o600)
	if _, _, err := OpenJournal(p); !errors.Is(err, ErrJournalCorrupt) {
		t.Fatalf("mid-journal corruption: %v", err)
	}
}

func FuzzReadJournal(f *testing.F) {
	var buf bytes.Buffer
	for _, ev := range []Event{{Kind: EvRegister, Peer: "p", NumExamples: 3}, {Kind: EvClose, Round: 1, Millis: 5}} {
		b, _ := codec.Marshal(ev)
		rec := appendRecord(nil, b)
		buf.Write(rec)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, good, err := ReadJournal(bytes.NewReader(b))
		if err != nil {
			return
		}
		if good > int64(len(b)) {
			t.Fatalf("valid prefix %d beyond input %d", good, len(b))
		}
		// Re-reading the valid prefix gives the same events.
		evs2, good2, err := ReadJournal(bytes.NewReader(b[:good]))
		if err != nil || good2 != good || len(evs2) != len(evs) {
			t.Fatalf("prefix re-read: %d/%d events, err %v", len(evs2), len(evs), err)
		}
	})
}

func FuzzRequest(f *testing.F) {
	var buf bytes.Buffer
	codec.WriteMsg(&buf, Request{Op: OpSubmit, Sub: &ledger.SignedSubmission{Sub: ledger.Submission{Round: 1, Participant: "x"}, Sig: []byte{1}}})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		var req Request
		if err := codec.ReadMsg(bytes.NewReader(b), MaxRequestSize, &req); err != nil {
			return
		}
		c := &Core{Registered: map[string]uint64{}, Accepted: map[string]ledger.SignedSubmission{}, Job: &ledger.SignedJob{}}
		if req.Sub != nil {
			// Whatever decodes is judged without panicking.
			c.Apply(Event{Kind: EvSubmit, Peer: "x", Sub: req.Sub})
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
