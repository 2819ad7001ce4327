package ledger

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
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

// MaxChainLength bounds how many records Walk follows.
const MaxChainLength = 1 << 20

// Walk fetches the chain ending at head back to its JobSpec and checks the
// structure: record encodings, signatures by the job's coordinator, the job
// link, round numbers and the hash links (each Prev names the blob before).
// It does not replay aggregations (that is package audit's work). Errors wrap
// ErrCorruption or ErrSignature and name the round.
func Walk(ctx context.Context, get Getter, head BlobID) (*Chain, error) {
	var (
		rev   []*SignedCommitment
		blobs []BlobID
		id    = head
	)
	for n := 0; ; n++ {
		if n > MaxChainLength {
			return nil, fmt.Errorf("%w: chain longer than %d records", ErrCorruption, MaxChainLength)
		}
		b, err := get(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("ledger: fetch record %x: %w", id[:6], err)
		}
		job, cm, err := Decode(b)
		if err != nil {
			return nil, fmt.Errorf("record %x: %w", id[:6], err)
		}
		if job != nil {
			if err := job.Verify(); err != nil {
				return nil, fmt.Errorf("job record: %w", err)
			}
			ch := &Chain{JobBlob: id, Job: job}
			slices.Reverse(rev)
			slices.Reverse(blobs)
			ch.Commitments, ch.Blobs = rev, blobs
			return ch, ch.check()
		}
		rev = append(rev, cm)
		blobs = append(blobs, id)
		id = cm.C.Prev
	}
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
