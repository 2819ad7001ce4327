package round

import (
	"context"
	"errors"
	"fmt"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/seal"
)

// OpenSealed opens a sealed update blob as recipient name with key: the
// plaintext update file, or ReasonBadUpdate when it does not open (a
// rejection of the submission, not an error). The coordinator and auditors
// open updates with it alike; blob is left as it was.
func OpenSealed(job *ledger.JobSpec, sub *ledger.SignedSubmission, blob []byte, name string, key *seal.Key) ([]byte, ledger.Reason, error) {
	return openSealed(seal.Open, job, sub, blob, name, key)
}

// OpenSealedInPlace is OpenSealed decrypting in blob's own buffer
// (seal.OpenInPlace), for a caller that fetched blob only to open it and
// keeps no other reference to it (the coordinator's fold): one copy of
// the update instead of two. blob is gone afterwards.
func OpenSealedInPlace(job *ledger.JobSpec, sub *ledger.SignedSubmission, blob []byte, name string, key *seal.Key) ([]byte, ledger.Reason, error) {
	return openSealed(seal.OpenInPlace, job, sub, blob, name, key)
}

func openSealed(open func([]byte, string, *seal.Key, []byte) ([]byte, error), job *ledger.JobSpec, sub *ledger.SignedSubmission, blob []byte, name string, key *seal.Key) ([]byte, ledger.Reason, error) {
	pt, err := open(blob, name, key, seal.AAD(job.ID(), sub.Sub.Round, sub.Sub.Participant))
	if err != nil {
		return nil, ledger.ReasonBadUpdate, nil
	}
	return pt, "", nil
}

// UpdateLimit returns the most bytes a submission's update blob may have:
// its declared size, else the job's bound; false when neither is set
// (submissions and jobs made before sizes were declared).
func UpdateLimit(job *ledger.JobSpec, sub *ledger.Submission) (uint64, bool) {
	if sub.UpdateSize > 0 {
		return sub.UpdateSize, true
	}
	if job.MaxUpdateBytes > 0 {
		return job.MaxUpdateBytes, true
	}
	return 0, false
}

// FetchUpdate reads a submission's update blob with get, refusing one
// longer than UpdateLimit before downloading it (stores that honour
// blob.WithMaxLength) or after. The coordinator and auditors read updates
// with it alike. A blob that is not the declared size is rejected as
// ReasonSizeMismatch, one that cannot be read as ReasonBlobMissing; an
// error means the read itself cannot go on (ctx done, the store stopped).
func FetchUpdate(ctx context.Context, get ledger.Getter, job *ledger.JobSpec, sub *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
	max, limited := UpdateLimit(job, &sub.Sub)
	rctx := ctx
	if limited {
		rctx = blob.WithMaxLength(ctx, max)
	}
	b, err := get(rctx, sub.Sub.Blob)
	var tl *blob.TooLargeError
	switch {
	case err == nil:
	case errors.As(err, &tl):
		return nil, ledger.ReasonSizeMismatch, nil
	case ctx.Err() != nil:
		return nil, "", ctx.Err()
	case errors.Is(err, blob.ErrStopped):
		// Not a missing blob: the store is gone, and the fold with it.
		return nil, "", fmt.Errorf("round: fetch update of %s: %w", sub.Sub.Participant, err)
	default:
		return nil, ledger.ReasonBlobMissing, nil
	}
	if r := CheckUpdateSize(job, &sub.Sub, len(b)); r != "" {
		return nil, r, nil
	}
	return b, "", nil
}

// CheckUpdateSize returns ReasonSizeMismatch when an update blob of n bytes
// is longer than UpdateLimit or not the declared size, else "".
func CheckUpdateSize(job *ledger.JobSpec, sub *ledger.Submission, n int) ledger.Reason {
	max, limited := UpdateLimit(job, sub)
	if (limited && uint64(n) > max) || (sub.UpdateSize > 0 && uint64(n) != sub.UpdateSize) {
		return ledger.ReasonSizeMismatch
	}
	return ""
}
