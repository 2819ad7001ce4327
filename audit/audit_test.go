package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/ledger"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestDocNamesChecks keeps doc.go in step with the checks the audit makes.
func TestDocNamesChecks(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Callers", "Checks", CheckRecord, CheckLink, CheckSignature, CheckCohort, CheckInput,
		CheckOrder, CheckSubmission, CheckReceipt, CheckQuorum, CheckShares, CheckMetrics, CheckUpdate, CheckReplay, CheckModel, CheckState,
		CheckSecAgg, VerdictVerified, VerdictIncomplete, VerdictFailed} {
		if !strings.Contains(string(b), s) {
			t.Errorf("doc.go does not mention %q", s)
		}
	}
}

func TestReportErr(t *testing.T) {
	ce := &CheckError{Round: 3, Check: CheckModel, Detail: "output model", Expected: "aaa", Found: "bbb"}
	if !errors.Is(ce, ledger.ErrCorruption) {
		t.Fatal("CheckError does not wrap ledger.ErrCorruption")
	}
	if got, want := ce.Error(), "audit: round 3: model check failed: output model (expected aaa, found bbb)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	for _, tc := range []struct {
		rep  Report
		want error
	}{
		{Report{Verdict: VerdictVerified}, nil},
		{Report{Verdict: VerdictFailed, Failure: ce}, ledger.ErrCorruption},
		{Report{Verdict: VerdictIncomplete, Skipped: 1, Rounds: []Row{{Round: 2, Skipped: []Skip{{CheckReplay, "no key"}}}}}, ErrIncomplete},
	} {
		err := tc.rep.Err()
		if (err == nil) != (tc.want == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("verdict %s: Err() = %v, want %v", tc.rep.Verdict, err, tc.want)
		}
	}
	inc := (&Report{Verdict: VerdictIncomplete, Skipped: 1, Rounds: []Row{{Round: 2, Skipped: []Skip{{CheckReplay, "no key"}}}}}).Err()
	if !strings.Contains(inc.Error(), "round 2: replay: no key") {
		t.Errorf("incomplete error does not say what was skipped: %v", inc)
	}
}

// TestReportJSONRoundTrip checks that --json output is one document that
// decodes back to the same report.
func TestReportJSONRoundTrip(t *testing.T) {
	rep := &Report{
		Head: "h", Job: "j", Privacy: "sealed", From: 2, Verdict: VerdictFailed, Skipped: 1,
		Rounds: []Row{
			{Round: 1, Verdict: VerdictStructure, Checked: []string{CheckRecord}},
			{Round: 2, Status: "ok", Verdict: VerdictIncomplete, Skipped: []Skip{{CheckReplay, "no key"}}, Notes: []string{"n"}},
		},
		Failure: &CheckError{Round: 3, Check: CheckState, Detail: "d", Expected: "a", Found: "b"},
	}
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&b)
	var got Report
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if dec.More() {
		t.Fatal("more than one JSON document")
	}
	if !reflect.DeepEqual(&got, rep) {
		t.Fatalf("round trip:\n%+v\n%+v", got, *rep)
	}
}

// testCoordinatorKey signs the jobs and commitments of package tests.
func testCoordinatorKey(t testing.TB) crypto.PrivKey {
	k, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{3}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signedJob returns a stored job record on a one-member committee and its ID.
func signedJob(t testing.TB, mod func(j *ledger.JobSpec)) (ledger.BlobID, []byte) {
	t.Helper()
	k := testCoordinatorKey(t)
	nk, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{4}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	me, _ := peer.IDFromPrivateKey(k)
	node, _ := peer.IDFromPrivateKey(nk)
	j := ledger.JobSpec{Version: ledger.Version, Name: "t", Coordinator: me.String(), Arch: "logreg",
		Aggregation: "fedavg(dp_clip=0,dp_noise_multiplier=0)", Privacy: "plain",
		Committee: []string{"/ip4/127.0.0.1/tcp/1/p2p/" + node.String()}, CohortSize: 2, Quorum: 1, Rounds: 3,
		Train: ledger.TrainParams{Epochs: 1, BatchSize: 1, LR: "0.1"}, DeadlineMillis: 1000, MinParticipants: 1}
	mod(&j)
	sj, err := ledger.SignJob(k, j)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ledger.EncodeJob(sj)
	if err != nil {
		t.Fatal(err)
	}
	id, err := blob.ComputeID(rec, 1)
	if err != nil {
		t.Fatal(err)
	}
	return ledger.BlobID(id), rec
}

// TestNewStateRejectsBadJobs checks that a signed but unusable job is a
// round-0 failure, never a panic.
func TestNewStateRejectsBadJobs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		check string
		mod   func(j *ledger.JobSpec)
	}{
		{"huge cohort", CheckJob, func(j *ledger.JobSpec) { j.CohortSize = 1 << 63 }},
		{"bad rule", CheckJob, func(j *ledger.JobSpec) { j.Aggregation = "nonsense" }},
		{"bad privacy", CheckJob, func(j *ledger.JobSpec) { j.Privacy = "secret" }},
		{"no committee", CheckJob, func(j *ledger.JobSpec) { j.Committee = nil }},
		{"bad committee", CheckJob, func(j *ledger.JobSpec) { j.Committee = []string{"/ip4/1.2.3.4"} }},
	} {
		id, rec := signedJob(t, tc.mod)
		_, err := NewState(id, rec, Options{})
		var ce *CheckError
		if !errors.As(err, &ce) || ce.Round != 0 || ce.Check != tc.check {
			t.Errorf("%s: got %v, want a round-0 %s failure", tc.name, err, tc.check)
		}
	}
	id, rec := signedJob(t, func(*ledger.JobSpec) {})
	if _, err := NewState(id, rec, Options{}); err != nil {
		t.Fatalf("a good job: %v", err)
	}
	var other ledger.BlobID
	other[0] = 1
	if _, err := NewState(other, rec, Options{}); err == nil || !strings.Contains(err.Error(), "do not match the blob ID") {
		t.Fatalf("a job read under another ID: %v", err)
	}
}
