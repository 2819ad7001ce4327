package coordinator

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/round"
	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The status protocol (transport.ProtoStatus) answers one StatusRequest
// with one Status per stream. It needs no key and says nothing the chain
// will not: the job's public settings, the open round's cohort and the
// status and reason of each receipt (never update bytes or anything
// sealed), and summaries of the last rounds committed.
const (
	// MaxRecentRounds bounds the round summaries a coordinator keeps.
	MaxRecentRounds = 8
	// MaxStatusList bounds the cohort and receipt lists of a Status; the
	// counts are always whole.
	MaxStatusList = 1024
	// maxStatusRequest and MaxStatusSize bound the protocol's messages.
	maxStatusRequest = 1 << 10
	MaxStatusSize    = 4 << 20
	statusTimeout    = 10 * time.Second
)

// StatusRequest asks for a coordinator's Status.
type StatusRequest struct {
	Version uint64 `cbor:"1,keyasint"` // 1
}

// Status is a coordinator's view of its job.
type Status struct {
	JobID          ledger.Hash   `cbor:"1,keyasint"`
	JobBlob        ledger.BlobID `cbor:"2,keyasint"`
	Name           string        `cbor:"3,keyasint"`
	Rounds         uint64        `cbor:"4,keyasint"` // the job's number of rounds
	CohortSize     uint64        `cbor:"5,keyasint"`
	Quorum         uint64        `cbor:"6,keyasint"`
	DeadlineMillis uint64        `cbor:"7,keyasint"` // the job's round deadline (a duration)
	Round          uint64        `cbor:"8,keyasint"` // the current round (0 before the first)
	Phase          string        `cbor:"9,keyasint"` // waiting, collecting, closing, done
	Registered     uint64        `cbor:"10,keyasint"`
	CohortCount    uint64        `cbor:"11,keyasint"`
	Cohort         []string      `cbor:"12,keyasint"` // sorted; at most MaxStatusList
	ReceiptCount   uint64        `cbor:"13,keyasint"`
	Receipts       []Receipt     `cbor:"14,keyasint"` // in arrival order; at most MaxStatusList
	// RoundDeadlineMillis is when the collecting round closes at the
	// latest, on the coordinator's clock (Unix milliseconds; 0 when no
	// round is collecting), and NowMillis that clock when it answered.
	RoundDeadlineMillis uint64         `cbor:"15,keyasint"`
	NowMillis           uint64         `cbor:"16,keyasint"`
	Head                ledger.BlobID  `cbor:"17,keyasint"` // the last commitment (the job before round 1)
	Recent              []RoundSummary `cbor:"18,keyasint"` // the last rounds committed since the coordinator started, oldest first
	// A secagg round's current step (round.SAStep's name; "" in other
	// jobs or outside a collecting round), how many members it still
	// waits for, and when it ends at the latest (Unix milliseconds).
	SecAggStep           string `cbor:"19,keyasint,omitempty"`
	SecAggPending        uint64 `cbor:"20,keyasint,omitempty"`
	SecAggDeadlineMillis uint64 `cbor:"21,keyasint,omitempty"`
}

// Receipt is one input the current round's receipt log holds.
type Receipt struct {
	Participant string        `cbor:"1,keyasint"`
	Status      ledger.Status `cbor:"2,keyasint"`
	Reason      ledger.Reason `cbor:"3,keyasint,omitempty"`
}

// RoundSummary is what a commitment says of its round, in counts.
type RoundSummary struct {
	Round       uint64          `cbor:"1,keyasint"`
	Status      ledger.Status   `cbor:"2,keyasint"`
	Reason      string          `cbor:"3,keyasint,omitempty"`
	Head        ledger.BlobID   `cbor:"4,keyasint"`
	Cohort      uint64          `cbor:"5,keyasint"`
	Accepted    uint64          `cbor:"6,keyasint"`
	Rejected    uint64          `cbor:"7,keyasint"`
	Metrics     []ledger.Metric `cbor:"8,keyasint,omitempty"`
	TimeMillis  uint64          `cbor:"9,keyasint"` // when it was committed (the commitment's time)
	FoldMillis  uint64          `cbor:"10,keyasint,omitempty"`
	TotalMillis uint64          `cbor:"11,keyasint,omitempty"` // from opening to commit, when this coordinator saw both
}

// Summarize returns the summary of a committed round whose commitment is
// stored at head.
func Summarize(c *ledger.Commitment, head ledger.BlobID) RoundSummary {
	s := RoundSummary{Round: c.Round, Status: c.Status, Reason: c.Reason, Head: head, Cohort: uint64(len(c.Cohort)),
		Metrics: slices.Clone(c.Metrics), TimeMillis: c.TimeMillis}
	for _, r := range c.Submissions {
		switch r.Status {
		case ledger.StatusAccepted:
			s.Accepted++
		default:
			s.Rejected++
		}
	}
	return s
}

// rememberLocked keeps sum among the last MaxRecentRounds summaries.
func (s *Server) rememberLocked(sum RoundSummary) {
	if len(s.recent) == MaxRecentRounds {
		s.recent = slices.Delete(s.recent, 0, 1)
	}
	s.recent = append(s.recent, sum)
}

// Snapshot returns the coordinator's Status.
func (s *Server) Snapshot() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, job := s.m, &s.signed.Job
	st := Status{
		JobID: m.JobID(), JobBlob: m.JobBlob(), Name: job.Name, Rounds: job.Rounds, CohortSize: job.CohortSize,
		Quorum: job.Quorum, DeadlineMillis: job.DeadlineMillis,
		Round: m.Round(), Phase: m.Phase().String(), Registered: uint64(m.NumRegistered()),
		NowMillis: s.nowMillis(), Head: m.Head(), Recent: slices.Clone(s.recent),
	}
	if m.Phase() == round.PhaseCollecting {
		st.RoundDeadlineMillis = m.DeadlineMillis()
	}
	if _, step, dl, pending, ok := m.SAPending(); ok {
		st.SecAggStep, st.SecAggPending, st.SecAggDeadlineMillis = step.String(), uint64(len(pending)), dl
	}
	cohort := m.Cohort()
	st.CohortCount = uint64(len(cohort))
	st.Cohort = cohort[:min(len(cohort), MaxStatusList)]
	recs, _ := m.Receipts()
	st.ReceiptCount = uint64(len(recs))
	for _, r := range recs[:min(len(recs), MaxStatusList)] {
		st.Receipts = append(st.Receipts, Receipt{Participant: r.Signed.Sub.Participant, Status: r.Status, Reason: r.Reason})
	}
	return st
}

// handleStatus serves one status-protocol stream.
func (s *Server) handleStatus(st network.Stream) {
	defer st.Close()
	transport.SetDeadline(st, statusTimeout)
	var req StatusRequest
	if err := codec.ReadMsg(st, maxStatusRequest, &req); err != nil {
		st.Reset()
		return
	}
	if err := codec.WriteMsg(st, s.Snapshot()); err != nil {
		st.Reset()
	}
}

// FetchStatus asks the coordinator at coord for its Status through h.
func FetchStatus(ctx context.Context, h host.Host, coord peer.AddrInfo) (*Status, error) {
	if len(coord.Addrs) > 0 {
		h.Peerstore().AddAddrs(coord.ID, coord.Addrs, time.Hour)
	}
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	st, err := h.NewStream(network.WithForceDirectDial(ctx, "floe status"), coord.ID, transport.ProtoStatus)
	if err != nil {
		return nil, fmt.Errorf("coordinator: status: %w", err)
	}
	defer st.Close()
	stop := transport.ResetOnDone(ctx, st)
	defer stop()
	transport.SetDeadline(st, statusTimeout)
	if err := codec.WriteMsg(st, StatusRequest{Version: 1}); err != nil {
		st.Reset()
		return nil, fmt.Errorf("coordinator: status: %w", err)
	}
	_ = st.CloseWrite()
	var out Status
	if err := codec.ReadMsg(st, MaxStatusSize, &out); err != nil {
		st.Reset()
		return nil, fmt.Errorf("coordinator: status: %w", err)
	}
	return &out, nil
}
