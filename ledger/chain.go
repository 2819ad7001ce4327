package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/floe-fl/floe/codec"
)

// CohortSeed derives round r's sampling seed from the job and the previous
// link of the chain, so anyone holding the chain can recompute the draw.
func CohortSeed(job Hash, round uint64, prev BlobID) Hash {
	b := make([]byte, 0, 96)
	b = append(b, "floe/cohort/v1\x00"...)
	b = append(b, job[:]...)
	b = binary.BigEndian.AppendUint64(b, round)
	b = append(b, prev[:]...)
	return Sum(b)
}

// DrawCohort picks size members of candidates with a generator seeded by seed.
// The result is sorted and does not depend on the order of candidates.
func DrawCohort(seed Hash, candidates []string, size int) []string {
	c := slices.Clone(candidates)
	slices.Sort(c)
	c = slices.Compact(c)
	if size < 0 || size >= len(c) {
		return c // a negative size is an overflowed huge one: everyone
	}
	r := rand.New(rand.NewChaCha8(seed))
	for i := 0; i < size; i++ {
		j := i + r.IntN(len(c)-i)
		c[i], c[j] = c[j], c[i]
	}
	out := c[:size]
	slices.Sort(out)
	return out
}

// Getter fetches a blob's bytes by ID.
type Getter func(ctx context.Context, id BlobID) ([]byte, error)

// Chain is a verified chain: the job and its commitments in round order.
type Chain struct {
	JobBlob     BlobID
	Job         *SignedJob
	Commitments []*SignedCommitment
	Blobs       []BlobID // Blobs[i] stores Commitments[i]
}

// Head returns the ID of the latest record.
func (c *Chain) Head() BlobID {
	if len(c.Blobs) == 0 {
		return c.JobBlob
	}
	return c.Blobs[len(c.Blobs)-1]
}

// ModelVersion returns the model blob and hash of version v: 0 is the job's
// initial model, r the output of round r.
func (c *Chain) ModelVersion(v uint64) (BlobID, Hash, error) {
	if v == 0 {
		return c.Job.Job.InitialModel, c.Job.Job.InitialModelHash, nil
	}
	if v > uint64(len(c.Commitments)) {
		return BlobID{}, Hash{}, fmt.Errorf("ledger: no version %d: chain has %d rounds", v, len(c.Commitments))
	}
	cm := c.Commitments[v-1].C
	return cm.OutputModel, cm.OutputModelHash, nil
}

// MaxChainLength bounds how many records a walk follows.
const MaxChainLength = 1 << 20

// Link is one record met walking a chain back from its head.
type Link struct {
	ID         BlobID
	Record     []byte
	Job        *SignedJob        // set on the chain's root, the job record
	Commitment *SignedCommitment // set on every other record
	// Err is set, in a lenient walk, on a commitment that parses but is not
	// a valid record (not canonical, another version): the walk followed
	// its Prev link so that an auditor can name its round.
	Err error
}

// WalkError reports where walking a chain back stopped: the record Depth
// steps behind the head (0: the head itself), named ID, could not be read,
// parsed or followed.
type WalkError struct {
	Depth int
	ID    BlobID
	Err   error
}

func (e *WalkError) Error() string {
	return fmt.Sprintf("ledger: record %s (%d behind the head): %v", Hash(e.ID), e.Depth, e.Err)
}

func (e *WalkError) Unwrap() error { return e.Err }

// Why a walk stopped (see WalkError).
var (
	// ErrChainLoop: the Prev links come back to a record already met.
	ErrChainLoop = fmt.Errorf("%w: the chain loops", ErrCorruption)
	// ErrChainTooLong: more than MaxChainLength records.
	ErrChainTooLong = fmt.Errorf("%w: chain longer than %d records", ErrCorruption, MaxChainLength)
	// ErrUnreadable: the record could not be fetched.
	ErrUnreadable = errors.New("ledger: record cannot be read")
)

// WalkBack reads the chain ending at head back to its job record and returns
// its links, head first; the last is the job record. It is the one chain
// walker: Walk, the model registry and the audit use it. It stops with a
// *WalkError at a record it cannot read, at one it cannot parse, at a loop
// (ErrChainLoop) and past MaxChainLength records. In a lenient walk a
// commitment that parses but fails Decode is returned with Link.Err set
// and followed; otherwise it stops the walk.
func WalkBack(ctx context.Context, get Getter, head BlobID, lenient bool) ([]Link, error) {
	var links []Link
	seen := map[BlobID]bool{}
	for id, depth := head, 0; ; depth++ {
		stop := func(err error) ([]Link, error) { return links, &WalkError{Depth: depth, ID: id, Err: err} }
		if depth > MaxChainLength {
			return stop(ErrChainTooLong)
		}
		if seen[id] {
			return stop(ErrChainLoop)
		}
		seen[id] = true
		b, err := get(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return links, ctx.Err()
			}
			return stop(fmt.Errorf("%w: %w", ErrUnreadable, err))
		}
		l := Link{ID: id, Record: b}
		l.Job, l.Commitment, err = Decode(b)
		if err != nil {
			if !lenient {
				return stop(err)
			}
			if l.Commitment = decodeLoose(b); l.Commitment == nil {
				return stop(err)
			}
			l.Err = err
		}
		links = append(links, l)
		if l.Job != nil {
			return links, nil
		}
		id = l.Commitment.C.Prev
	}
}

// decodeLoose parses a commitment record without Decode's canonical-form
// and version checks, only to follow its Prev link.
func decodeLoose(b []byte) *SignedCommitment {
	if len(b) == 0 || len(b) > MaxRecordSize || b[0] != KindCommitment {
		return nil
	}
	var sc SignedCommitment
	if codec.Unmarshal(b[1:], &sc) != nil {
		return nil
	}
	return &sc
}

// Walk fetches the chain ending at head back to its JobSpec and checks the
// structure: record encodings, signatures by the job's coordinator, the job
// link, round numbers and the hash links (each Prev names the blob before).
// It does not replay aggregations (that is package audit's work). Errors wrap
// ErrCorruption or ErrSignature and name the record or the round.
func Walk(ctx context.Context, get Getter, head BlobID) (*Chain, error) {
	links, err := WalkBack(ctx, get, head, false)
	if err != nil {
		return nil, err
	}
	root := links[len(links)-1]
	if err := root.Job.Verify(); err != nil {
		return nil, fmt.Errorf("job record: %w", err)
	}
	ch := &Chain{JobBlob: root.ID, Job: root.Job}
	for i := len(links) - 2; i >= 0; i-- {
		ch.Commitments = append(ch.Commitments, links[i].Commitment)
		ch.Blobs = append(ch.Blobs, links[i].ID)
	}
	return ch, ch.check()
}

func (c *Chain) check() error {
	jobID := c.Job.Job.ID()
	prev := c.JobBlob
	for i, sc := range c.Commitments {
		round := uint64(i + 1)
		cm := &sc.C
		if cm.Round != round {
			return fmt.Errorf("%w: round %d: record says round %d", ErrCorruption, round, cm.Round)
		}
		if cm.Job != jobID {
			return fmt.Errorf("%w: round %d: job %s, want %s", ErrCorruption, round, cm.Job, jobID)
		}
		if cm.Prev != prev {
			return fmt.Errorf("%w: round %d: prev link mismatch", ErrCorruption, round)
		}
		if err := sc.Verify(c.Job.Job.Coordinator); err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		prev = c.Blobs[i]
	}
	return nil
}
