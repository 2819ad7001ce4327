package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/floe-fl/floe/ledger"
)

// TestDocNamesChecks keeps doc.go in step with the checks the audit makes.
func TestDocNamesChecks(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Callers", "Checks", CheckRecord, CheckLink, CheckSignature, CheckCohort, CheckInput,
		CheckOrder, CheckSubmission, CheckReceipt, CheckQuorum, CheckShares, CheckUpdate, CheckReplay, CheckModel, CheckState,
		VerdictVerified, VerdictIncomplete, VerdictFailed} {
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
