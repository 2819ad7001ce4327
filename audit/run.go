package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/seal"
)

// Config says what to audit and with what means.
type Config struct {
	// Get reads blobs (required): a blob/p2p Client's Get, a blob.Store's
	// Get, or any ledger.Getter.
	Get ledger.Getter
	// Committee, if it has members, is the committee Get reads from; the
	// audit notes when its members differ from the job's committee
	// (certificates are always checked against the job's).
	Committee blob.Committee
	// Head is the chain head: the blob ID of the latest record.
	Head ledger.BlobID
	// Key and Name open sealed updates when the auditor is a recipient of the
	// job (Name defaults to DefaultName).
	Key  *seal.Key
	Name string
	// From, when above 1, replays from round From only: earlier rounds get
	// structure checks (record, links, signature), and the replay starts from
	// the committed model and aggregator state before round From.
	From uint64
	// Fetchers bounds the concurrent blob reads (default 4).
	Fetchers int
}

// Validate reports the first bad field of c.
func (c *Config) Validate() error {
	if c.Get == nil {
		return errors.New("audit: Config.Get is required")
	}
	if c.Head == (ledger.BlobID{}) {
		return errors.New("audit: Config.Head is required")
	}
	if c.Fetchers < 0 {
		return errors.New("audit: Config.Fetchers must not be negative")
	}
	return nil
}

type record struct {
	id   ledger.BlobID
	data []byte
	cm   *ledger.SignedCommitment
}

// Run audits the chain ending at cfg.Head: it walks back to the job record,
// then applies every round in order (see State.Apply), reading the blobs each
// round needs. It returns an error only when the audit could not run (bad
// Config, ctx done); the verdict, including the first failing check, is in
// the Report (Report.Err gives it as an error).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rep := &Report{Head: ledger.Hash(cfg.Head).String(), From: cfg.From, Rounds: []Row{}}
	finish := func(ce *CheckError) (*Report, error) {
		rep.Verdict = VerdictVerified
		for _, row := range rep.Rounds {
			rep.Skipped += len(row.Skipped)
		}
		if rep.Skipped > 0 {
			rep.Verdict = VerdictIncomplete
		}
		if ce != nil {
			rep.Verdict, rep.Failure = VerdictFailed, ce
		}
		return rep, nil
	}

	// Walk back from the head to the job record. A record that cannot be
	// read or parsed is charged to the record whose Prev link named it; the
	// head, to no round. A record that parses but is not valid (say, a wrong
	// version) is followed, so that Apply names it by its position.
	links, err := ledger.WalkBack(ctx, cfg.Get, cfg.Head, true)
	if err != nil {
		var we *ledger.WalkError
		if !errors.As(err, &we) {
			return nil, err
		}
		check, what := CheckRecord, fmt.Sprintf("is not a record: %v", we.Err)
		switch {
		case errors.Is(we.Err, ledger.ErrChainLoop):
			check, what = CheckLink, "was already visited: the chain loops"
		case errors.Is(we.Err, ledger.ErrChainTooLong):
			check, what = CheckLink, fmt.Sprintf("is beyond %d records", ledger.MaxChainLength)
		case errors.Is(we.Err, ledger.ErrUnreadable):
			check, what = CheckFetch, fmt.Sprintf("cannot be read: %v", we.Err)
		}
		if we.Depth == 0 {
			return finish(&CheckError{Where: "head record " + idStr(we.ID).String(), Check: check, Detail: what})
		}
		named := links[we.Depth-1].Commitment.C.Round
		return finish(fail(named, CheckLink, fmt.Sprintf("the previous-record link names %s, which %s", idStr(we.ID), what)))
	}
	root := links[len(links)-1]
	jobData, jobID := root.Record, root.ID
	var recs []record // head first
	for _, l := range links[:len(links)-1] {
		recs = append(recs, record{id: l.ID, data: l.Record, cm: l.Commitment})
	}
	slices.Reverse(recs)
	for i, r := range recs {
		row := Row{Round: uint64(i + 1), Record: idStr(r.id).String(), Status: string(r.cm.C.Status),
			Submissions: len(r.cm.C.Submissions), Rule: r.cm.C.Rule, Verdict: VerdictNotChecked}
		row.Accepted, row.Rejections = tally(r.cm.C.Submissions)
		rep.Rounds = append(rep.Rounds, row)
	}

	st, err := NewState(jobID, jobData, Options{Key: cfg.Key, Name: cfg.Name, From: cfg.From})
	if err != nil {
		var ce *CheckError
		errors.As(err, &ce)
		return finish(ce)
	}
	rep.JobBlob, rep.Job = idStr(jobID).String(), st.JobID.String()
	rep.Coordinator, rep.Privacy, rep.Recipient = st.Job.Coordinator, st.Job.Privacy, st.Recipient()
	if cfg.Committee.N() > 0 && !sameMembers(cfg.Committee, st.Committee) {
		rep.Notes = append(rep.Notes, "the committee read from differs from the job's committee; certificates were checked against the job's")
	}
	rep.Notes = append(rep.Notes, "evaluation metrics are not checked: the held-out set is not part of the chain",
		"round times are checked for order only: they are the coordinator's clock",
		"when each round opened and closed in its receipt log (Opened, the close time) is the coordinator's word; every receipt's verdict is replayed from it")
	if st.Job.Privacy == ledger.PrivacySecAgg {
		rep.Notes = append(rep.Notes, "secagg rounds are replayed from their signed protocol messages, and the secrets recovered from the signed reveals, with no key of the auditor's; when each secagg step ended and the exclusions (a refused message is not kept) are the coordinator's word")
	}

	fetchers := cfg.Fetchers
	if fetchers == 0 {
		fetchers = 4
	}
	for i, r := range recs {
		blobs := fetch(ctx, cfg.Get, st.Needs(&r.cm.C), fetchers)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		next, row, err := st.Apply(ctx, Entry{ID: r.id, Record: r.data, Blobs: blobs, Updates: cfg.Get})
		rep.Rounds[i] = row
		if err != nil {
			var ce *CheckError
			if !errors.As(err, &ce) {
				return nil, err
			}
			return finish(ce)
		}
		st = next
	}
	return finish(nil)
}

// fetch reads ids with at most n reads at a time.
func fetch(ctx context.Context, get ledger.Getter, ids []ledger.BlobID, n int) map[ledger.BlobID]Blob {
	out := make(map[ledger.BlobID]Blob, len(ids))
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, n)
	)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			b, err := get(ctx, id)
			mu.Lock()
			out[id] = Blob{Data: b, Err: err}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func sameMembers(a, b blob.Committee) bool {
	if a.N() != b.N() {
		return false
	}
	for i := range a.Members {
		if a.Members[i].ID != b.Members[i].ID {
			return false
		}
	}
	return true
}
