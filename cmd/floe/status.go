package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/floe-fl/floe/coordinator"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// statusEvery is how often --watch refreshes.
const statusEvery = 2 * time.Second

func runStatus(args []string) error {
	fs := newFlagSet("status", "--coordinator MULTIADDR [--watch] [--json]", `  floe status --coordinator $(head -1 coord.addrs)
  floe status --coordinator /ip4/10.0.0.5/tcp/4100/p2p/12D3Koo... --watch
  floe status --coordinator ADDR --json | jq .rounds_recent
  (read-only: no key needed; the coordinator reveals counts and statuses, never updates)`)
	coordAddr := fs.String("coordinator", "", "coordinator multiaddr with /p2p/ID")
	watch := fs.Bool("watch", false, "refresh every 2 s until interrupted")
	asJSON := fs.Bool("json", false, "print one JSON object (one a line with --watch)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *coordAddr == "" {
		return usagef("--coordinator is required")
	}
	if fs.NArg() != 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	coord, err := peer.AddrInfoFromString(*coordAddr)
	if err != nil {
		return usagef("--coordinator %q: %v", *coordAddr, err)
	}
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return err
	}
	h, err := transport.NewHost(transport.HostConfig{Key: key, DialOnly: true})
	if err != nil {
		return err
	}
	defer h.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for {
		st, err := coordinator.FetchStatus(ctx, h, *coord)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !*watch {
				return err
			}
			fmt.Fprintf(os.Stderr, "floe status: %s\n", oneLine(err.Error()))
		} else if *asJSON {
			b, err := json.Marshal(statusView(st))
			if err != nil {
				return err
			}
			fmt.Printf("%s\n", b)
		} else {
			if *watch {
				fmt.Printf("--- %s\n", time.Now().Format(time.RFC3339))
			}
			printStatus(os.Stdout, st)
		}
		if !*watch {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(statusEvery):
		}
	}
}

// statusJSON is `floe status --json`: snake_case keys, durations in
// seconds, IDs as text (README: JSON outputs).
type statusJSON struct {
	JobID                 string         `json:"job_id"`
	JobBlob               string         `json:"job_blob"`
	JobName               string         `json:"job_name"`
	Rounds                uint64         `json:"rounds"`
	CohortSize            uint64         `json:"cohort_size"`
	Quorum                uint64         `json:"quorum"`
	DeadlineSeconds       float64        `json:"deadline_seconds"`
	Round                 uint64         `json:"round"`
	Phase                 string         `json:"phase"`
	Registered            uint64         `json:"registered"`
	Cohort                []string       `json:"cohort"`
	CohortCount           uint64         `json:"cohort_count"`
	SubmissionsReceived   uint64         `json:"submissions_received"`
	SubmissionsByStatus   map[string]int `json:"submissions_by_status"`
	Submissions           []receiptJSON  `json:"submissions"`
	TimeToDeadlineSeconds *float64       `json:"time_to_deadline_seconds"`
	Head                  string         `json:"head"`
	RoundsRecent          []roundSumJSON `json:"rounds_recent"`
	// SecAgg is a secagg round's current step, absent otherwise.
	SecAgg *secaggStepJSON `json:"secagg,omitempty"`
}

type secaggStepJSON struct {
	Step                 string  `json:"step"`
	Waiting              uint64  `json:"waiting_for"`
	TimeToStepEndSeconds float64 `json:"time_to_step_end_seconds"`
}

type receiptJSON struct {
	Participant string `json:"participant"`
	Status      string `json:"status"`
	Reason      string `json:"reason,omitempty"`
}

type roundSumJSON struct {
	Round        uint64             `json:"round"`
	Status       string             `json:"status"`
	Reason       string             `json:"reason,omitempty"`
	Head         string             `json:"head"`
	Cohort       uint64             `json:"cohort"`
	Accepted     uint64             `json:"accepted"`
	Rejected     uint64             `json:"rejected"`
	Metrics      map[string]float64 `json:"metrics"`
	CommittedAt  string             `json:"committed_at"` // RFC 3339, the commitment's time
	FoldSeconds  float64            `json:"fold_seconds"`
	RoundSeconds float64            `json:"round_seconds"` // opening to commit, 0 when unknown
}

func statusView(st *coordinator.Status) statusJSON {
	v := statusJSON{
		JobID: st.JobID.String(), JobBlob: ledger.Hash(st.JobBlob).String(), JobName: st.Name, Rounds: st.Rounds,
		CohortSize: st.CohortSize, Quorum: st.Quorum, DeadlineSeconds: float64(st.DeadlineMillis) / 1000,
		Round: st.Round, Phase: st.Phase, Registered: st.Registered, Cohort: st.Cohort, CohortCount: st.CohortCount,
		SubmissionsReceived: st.ReceiptCount, SubmissionsByStatus: map[string]int{}, Head: ledger.Hash(st.Head).String(),
		Submissions: []receiptJSON{}, RoundsRecent: []roundSumJSON{},
	}
	if v.Cohort == nil {
		v.Cohort = []string{}
	}
	for _, r := range st.Receipts {
		v.SubmissionsByStatus[string(r.Status)]++
		v.Submissions = append(v.Submissions, receiptJSON{Participant: r.Participant, Status: string(r.Status), Reason: string(r.Reason)})
	}
	if st.RoundDeadlineMillis != 0 {
		left := (float64(st.RoundDeadlineMillis) - float64(st.NowMillis)) / 1000
		v.TimeToDeadlineSeconds = &left
	}
	if st.SecAggStep != "" {
		v.SecAgg = &secaggStepJSON{Step: st.SecAggStep, Waiting: st.SecAggPending,
			TimeToStepEndSeconds: (float64(st.SecAggDeadlineMillis) - float64(st.NowMillis)) / 1000}
	}
	for _, r := range st.Recent {
		s := roundSumJSON{Round: r.Round, Status: string(r.Status), Reason: r.Reason, Head: ledger.Hash(r.Head).String(),
			Cohort: r.Cohort, Accepted: r.Accepted, Rejected: r.Rejected, Metrics: metricMap(r.Metrics),
			CommittedAt: time.UnixMilli(int64(r.TimeMillis)).UTC().Format(time.RFC3339Nano),
			FoldSeconds: float64(r.FoldMillis) / 1000, RoundSeconds: float64(r.TotalMillis) / 1000}
		v.RoundsRecent = append(v.RoundsRecent, s)
	}
	return v
}

// metricMap turns a commitment's metrics into numbers (a value that is not
// a number is left out).
func metricMap(ms []ledger.Metric) map[string]float64 {
	out := map[string]float64{}
	for _, m := range ms {
		if f, err := strconv.ParseFloat(m.Value, 64); err == nil {
			out[m.Name] = f
		}
	}
	return out
}

func printStatus(w io.Writer, st *coordinator.Status) {
	v := statusView(st)
	fmt.Fprintf(w, "job      %s (%s), %d rounds, cohort %d, quorum %d, deadline %gs\n", v.JobName, v.JobID, v.Rounds, v.CohortSize, v.Quorum, v.DeadlineSeconds)
	fmt.Fprintf(w, "round    %d, %s", v.Round, v.Phase)
	if v.TimeToDeadlineSeconds != nil {
		fmt.Fprintf(w, ", deadline in %.1fs", *v.TimeToDeadlineSeconds)
	}
	if v.SecAgg != nil {
		fmt.Fprintf(w, "; secagg step %s, waiting for %d, ends in %.1fs", v.SecAgg.Step, v.SecAgg.Waiting, v.SecAgg.TimeToStepEndSeconds)
	}
	fmt.Fprintf(w, "\nhead     %s\n", v.Head)
	fmt.Fprintf(w, "peers    %d registered, %d in the cohort\n", v.Registered, v.CohortCount)
	statuses := make([]string, 0, len(v.SubmissionsByStatus))
	for s, n := range v.SubmissionsByStatus {
		statuses = append(statuses, fmt.Sprintf("%d %s", n, s))
	}
	sort.Strings(statuses)
	fmt.Fprintf(w, "received %d submissions", v.SubmissionsReceived)
	if len(statuses) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(statuses, ", "))
	}
	fmt.Fprintf(w, "; quorum %d\n", v.Quorum)
	for _, r := range v.Submissions {
		fmt.Fprintf(w, "  %s %s %s\n", r.Participant, r.Status, r.Reason)
	}
	if len(st.Recent) > 0 {
		fmt.Fprintf(w, "last rounds:\n")
	}
	for _, r := range st.Recent {
		fmt.Fprintf(w, "  %s\n", commitSummary(r))
	}
}

// commitSummary is the text of one committed round: `round R STATUS head
// ID` (the prefix scripts parse), then its counts and metrics.
func commitSummary(r coordinator.RoundSummary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "round %d %s head %s accepted %d/%d", r.Round, r.Status, ledger.Hash(r.Head), r.Accepted, r.Cohort)
	for _, m := range r.Metrics {
		fmt.Fprintf(&b, " %s %s", m.Name, m.Value)
	}
	if r.Reason != "" {
		fmt.Fprintf(&b, " reason %q", r.Reason)
	}
	return b.String()
}

// commitLine is the coordinator's stdout line for a committed round.
func commitLine(c *ledger.Commitment, head ledger.BlobID) string {
	return commitSummary(coordinator.Summarize(c, head))
}
