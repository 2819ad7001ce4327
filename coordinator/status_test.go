package coordinator_test

import (
	"testing"
	"time"

	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/coordinator"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/round"
	"github.com/floe-fl/floe/transport"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metricValue returns the value of the series of family name whose labels
// include labels (name, value pairs): a counter's or gauge's value, a
// histogram's sample count. ok is false when there is no such series.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels ...string) (float64, bool) {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				if !found {
					continue series
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), true
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue(), true
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

// TestStatusProtocol asks a running coordinator for its status through
// /floe/status/1.0.0 from a peer that is not in the job, before and after a
// round, and checks the coordinator's metrics moved with the round.
func TestStatusProtocol(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	f.cfg.Metrics = reg
	if err := f.restart(true); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"floe_rounds_total", "floe_round_phase_seconds", "floe_round"} {
		if _, ok := metricValue(t, reg, name); !ok {
			t.Errorf("metric %s missing before the first round", name)
		}
	}
	asker := f.peers[7] // never registers
	status := func() *coordinator.Status {
		t.Helper()
		st, err := coordinator.FetchStatus(f.ctx, asker.h, f.coord)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := status()
	if st.Name != "adversarial" || st.Rounds != 2 || st.Quorum != 2 || st.CohortSize != 6 || st.Phase != "waiting" || st.Round != 0 {
		t.Fatalf("status before registrations: %+v", st)
	}
	if st.Head != f.srv.JobBlob() || st.JobID != f.srv.Job().Job.ID() {
		t.Fatalf("status names head %s, job %s", ledger.Hash(st.Head), st.JobID)
	}

	cohort := f.registerAndWait(f.peers[:7], 1)
	st = status()
	if st.Round != 1 || st.Phase != "collecting" || st.Registered != 7 || st.CohortCount != 6 || len(st.Cohort) != 6 || st.ReceiptCount != 0 {
		t.Fatalf("status of an open round: %+v", st)
	}
	if left := int64(st.RoundDeadlineMillis) - int64(st.NowMillis); left <= 0 || left > 5000 {
		t.Fatalf("time to deadline %d ms, want in (0, 5000]", left)
	}
	dim := f.global.Len()
	good := func() []float32 { d := make([]float32, dim); d[0] = 0.5; return d }
	f.expect(cohort[0], f.update(cohort[0], 1, good(), nil), "")
	f.expect(cohort[1], f.update(cohort[1], 1, good(), nil), "")
	f.expect(cohort[2], f.update(cohort[2], 1, []float32{1, 2, 3}, nil), "") // rejected when opened: shape
	f.expect(cohort[0], f.update(cohort[0], 1, good(), nil), ledger.ReasonDuplicate)
	st = status()
	if st.ReceiptCount != 4 || len(st.Receipts) != 4 {
		t.Fatalf("%d receipts (%d listed), want 4", st.ReceiptCount, len(st.Receipts))
	}
	byStatus := map[ledger.Status]int{}
	for _, r := range st.Receipts {
		byStatus[r.Status]++
	}
	if byStatus[ledger.StatusAccepted] != 3 || byStatus[ledger.StatusRejected] != 1 {
		t.Fatalf("receipts by status %v, want 3 accepted, 1 rejected", byStatus)
	}

	f.clk.Advance(5 * time.Second)
	var c1 *ledger.SignedCommitment
	select {
	case c1 = <-f.heads:
	case err := <-f.errc:
		t.Fatal(err)
	}
	if c1.C.Status != ledger.StatusOK {
		t.Fatalf("round 1 %s: %s", c1.C.Status, c1.C.Reason)
	}
	if _, err := f.srv.WaitFor(f.ctx, func(r uint64, p round.Phase) bool { return r == 2 && p == round.PhaseCollecting }); err != nil {
		t.Fatal(err)
	}
	st = status()
	if len(st.Recent) != 1 {
		t.Fatalf("%d recent rounds, want 1", len(st.Recent))
	}
	r1 := st.Recent[0]
	if r1.Round != 1 || r1.Status != ledger.StatusOK || r1.Accepted != 2 || r1.Rejected != 2 || r1.Cohort != 6 || r1.Head != st.Head {
		t.Fatalf("round 1 summary %+v (head %s)", r1, ledger.Hash(st.Head))
	}
	if st.Round != 2 || st.ReceiptCount != 0 {
		t.Fatalf("status after round 1: round %d, %d receipts", st.Round, st.ReceiptCount)
	}

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"floe_rounds_total", []string{"status", "ok"}, 1},
		{"floe_rounds_total", []string{"status", "failed"}, 0},
		{"floe_submissions_total", []string{"status", "accepted", "reason", ""}, 2},
		{"floe_submissions_total", []string{"status", "rejected", "reason", string(ledger.ReasonShape)}, 1},
		{"floe_submissions_total", []string{"status", "rejected", "reason", string(ledger.ReasonDuplicate)}, 1},
		{"floe_round", nil, 1},
		{"floe_round_phase_seconds", []string{"phase", "collecting"}, 1},
		{"floe_round_phase_seconds", []string{"phase", "folding"}, 1},
		{"floe_round_phase_seconds", []string{"phase", "committing"}, 1},
	} {
		if got, ok := metricValue(t, reg, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if got, _ := metricValue(t, reg, "floe_update_bytes_total"); got <= 0 {
		t.Errorf("floe_update_bytes_total = %v after a round", got)
	}
	if got, _ := metricValue(t, reg, "floe_journal_sync_seconds"); got < 5 {
		t.Errorf("floe_journal_sync_seconds counted %v fsyncs, want one per journaled event", got)
	}
}

// TestStatusProtocolJunk: a request that is not a StatusRequest, or too
// large, gets its stream reset, and the protocol goes on serving.
func TestStatusProtocolJunk(t *testing.T) {
	f := newFixture(t)
	p := f.peers[7]
	for _, payload := range [][]byte{{0xff, 0xff, 0xff, 0xff, 0x0f}, append([]byte{0x80, 0x10}, make([]byte, 2048)...), {0x01, 0x01}} {
		st, err := p.h.NewStream(f.ctx, f.coord.ID, transport.ProtoStatus)
		if err != nil {
			t.Fatal(err)
		}
		st.Write(payload)
		st.CloseWrite()
		var out coordinator.Status
		if err := codec.ReadMsg(st, coordinator.MaxStatusSize, &out); err == nil {
			t.Errorf("junk request %x answered with a status", payload[:min(len(payload), 8)])
		}
		st.Reset()
	}
	if _, err := coordinator.FetchStatus(f.ctx, p.h, f.coord); err != nil {
		t.Fatalf("status after junk: %v", err)
	}
}
