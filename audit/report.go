package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/floe-fl/floe/ledger"
)

// Check names, as reports and errors print them. Published text: never change it.
const (
	CheckFetch      = "fetch"      // a record could not be read
	CheckRecord     = "record"     // record encoding, kind, or bytes that do not match the blob ID
	CheckSignature  = "signature"  // the coordinator's signature on the job or a commitment
	CheckLink       = "link"       // job ID, round number, Prev link, time order
	CheckJob        = "job"        // the job spec itself (rule, privacy mode, committee)
	CheckCohort     = "cohort"     // cohort seed, candidates and draw
	CheckSubmission = "submission" // signature, certificate, job, round and cohort of a recorded submission
	CheckOrder      = "order"      // submission records in their fixed order
	CheckReceipt    = "receipt"    // rejections made at receipt really hold
	CheckUpdate     = "update"     // update blob available and matching its hash
	CheckReplay     = "replay"     // the aggregation replayed: per-submission fate, round status
	CheckQuorum     = "quorum"     // ok rounds had a quorum of valid updates, failed rounds did not
	CheckShares     = "shares"     // contribution shares
	CheckMetrics    = "metrics"    // the participants' metrics, example-weighted
	CheckInput      = "input"      // round r+1 starts from round r's output
	CheckModel      = "model"      // model bytes: available, matching their hash and the replay
	CheckState      = "state"      // aggregator state: available, matching its hash and the replay
	CheckSecAgg     = "secagg"     // a secagg round's protocol messages, replayed, and the secrets recovered from them
)

// Verdicts.
const (
	VerdictVerified   = "verified"       // every check held
	VerdictIncomplete = "incomplete"     // no check failed, but some could not be made
	VerdictFailed     = "failed"         // a check failed
	VerdictStructure  = "structure only" // before Config.From: links and signatures only
	VerdictNotChecked = "not checked"    // after the first failure
)

// CheckError reports the first check that failed: the round (0 for the job
// record), the check, and the evidence. It wraps ledger.ErrCorruption.
type CheckError struct {
	Round    uint64 `json:"round"`
	Where    string `json:"where,omitempty"` // set when the failing record has no known round (a broken head)
	Check    string `json:"check"`
	Detail   string `json:"detail"`
	Expected string `json:"expected,omitempty"`
	Found    string `json:"found,omitempty"`
}

func (e *CheckError) Error() string {
	s := fmt.Sprintf("audit: round %d: %s check failed: %s", e.Round, e.Check, e.Detail)
	switch {
	case e.Where != "":
		s = fmt.Sprintf("audit: %s: %s check failed: %s", e.Where, e.Check, e.Detail)
	case e.Round == 0:
		s = fmt.Sprintf("audit: job record: %s check failed: %s", e.Check, e.Detail)
	}
	if e.Expected != "" || e.Found != "" {
		s += fmt.Sprintf(" (expected %s, found %s)", e.Expected, e.Found)
	}
	return s
}

// Unwrap makes every CheckError match ledger.ErrCorruption.
func (e *CheckError) Unwrap() error { return ledger.ErrCorruption }

// ErrIncomplete is returned by Report.Err when no check failed but some
// could not be made.
var ErrIncomplete = errors.New("audit: incomplete")

// Skip is a check that could not be made, and why.
type Skip struct {
	Check string `json:"check"`
	Why   string `json:"why"`
}

// Row is one round of the report.
type Row struct {
	Round       uint64   `json:"round"`
	Record      string   `json:"record"` // blob ID of the commitment
	Status      string   `json:"status"` // the round's committed status
	Submissions int      `json:"submissions"`
	Accepted    int      `json:"accepted"`
	Rejections  []string `json:"rejections,omitempty"` // "reason: count", sorted by reason
	Rule        string   `json:"rule"`
	Verdict     string   `json:"verdict"`
	Checked     []string `json:"checked,omitempty"` // checks that held
	Skipped     []Skip   `json:"skipped,omitempty"`
	Notes       []string `json:"notes,omitempty"`
	OutputModel string   `json:"output_model,omitempty"` // hash of the output model
}

// Report is the result of an audit.
type Report struct {
	Head        string      `json:"head"`
	JobBlob     string      `json:"job_blob,omitempty"`
	Job         string      `json:"job,omitempty"` // job ID
	Coordinator string      `json:"coordinator,omitempty"`
	Privacy     string      `json:"privacy,omitempty"`
	Recipient   string      `json:"recipient,omitempty"` // the name the auditor opens sealed updates as, when it can
	From        uint64      `json:"from,omitempty"`
	Rounds      []Row       `json:"rounds"`
	Verdict     string      `json:"verdict"`
	Failure     *CheckError `json:"failure,omitempty"`
	Skipped     int         `json:"skipped_checks"` // checks skipped over all rounds
	Notes       []string    `json:"notes,omitempty"`
}

// Err returns nil when the chain is verified, the *CheckError of the first
// failure, or an error wrapping ErrIncomplete that says what was skipped.
func (r *Report) Err() error {
	switch r.Verdict {
	case VerdictVerified:
		return nil
	case VerdictFailed:
		if r.Failure != nil {
			return r.Failure
		}
		return fmt.Errorf("audit: failed")
	}
	first := ""
	for _, row := range r.Rounds {
		if len(row.Skipped) > 0 {
			first = fmt.Sprintf("first in round %d: %s: %s", row.Round, row.Skipped[0].Check, row.Skipped[0].Why)
			break
		}
	}
	return fmt.Errorf("%w: no check failed, but %d checks could not be made (%s)", ErrIncomplete, r.Skipped, first)
}

// WriteJSON writes r as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes r as a per-round table followed by the final verdict.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "chain head  %s\n", r.Head)
	if r.Job != "" {
		fmt.Fprintf(&b, "job         %s (record %s)\ncoordinator %s\nprivacy     %s", r.Job, r.JobBlob, r.Coordinator, r.Privacy)
		if r.Privacy == "sealed" {
			if r.Recipient != "" {
				fmt.Fprintf(&b, " (opening updates as recipient %q)", r.Recipient)
			} else {
				b.WriteString(" (not a recipient: updates cannot be opened)")
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUND\tSTATUS\tSUBMISSIONS\tACCEPTED\tRULE\tVERDICT\tSKIPPED\tREJECTIONS")
	for _, row := range r.Rounds {
		var sk []string
		for _, s := range row.Skipped {
			sk = append(sk, s.Check)
		}
		skipped := strings.Join(sk, ",")
		if skipped == "" {
			skipped = "-"
		}
		rej := strings.Join(row.Rejections, ", ")
		if rej == "" {
			rej = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", row.Round, row.Status, row.Submissions, row.Accepted, row.Rule, row.Verdict, skipped, rej)
	}
	tw.Flush()
	// Say once why each kind of check was skipped.
	seen := map[string]bool{}
	var why []string
	for _, row := range r.Rounds {
		for _, s := range row.Skipped {
			k := s.Check + "\x00" + s.Why
			if !seen[k] {
				seen[k] = true
				why = append(why, fmt.Sprintf("  round %d: %s not checked: %s", row.Round, s.Check, s.Why))
			}
		}
	}
	if len(why) > 0 {
		b.WriteString("\nSkipped checks (first occurrence of each reason):\n")
		b.WriteString(strings.Join(why, "\n"))
		b.WriteString("\n")
	}
	var notes []string
	notes = append(notes, r.Notes...)
	for _, row := range r.Rounds {
		for _, n := range row.Notes {
			notes = append(notes, fmt.Sprintf("round %d: %s", row.Round, n))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "  %s\n", n)
		}
	}
	b.WriteString("\n")
	switch r.Verdict {
	case VerdictVerified:
		fmt.Fprintf(&b, "VERDICT: verified: every check held for %d rounds\n", len(r.Rounds))
		if r.From > 1 {
			fmt.Fprintf(&b, "  (rounds before %d: links and signatures only, as --from asked)\n", r.From)
		}
	case VerdictIncomplete:
		fmt.Fprintf(&b, "VERDICT: incomplete: no check failed, but %d checks could not be made\n", r.Skipped)
	default:
		fmt.Fprintf(&b, "VERDICT: FAILED: %s\n", r.Failure.Error())
	}
	_, err := io.WriteString(w, b.String())
	return err
}
