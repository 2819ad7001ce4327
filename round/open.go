package round

import (
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/seal"
)

// OpenSealed opens a sealed update blob as recipient name with key: the
// plaintext update file, or ReasonBadUpdate when it does not open (a
// rejection of the submission, not an error). The coordinator and auditors
// open updates with it alike.
func OpenSealed(job *ledger.JobSpec, sub *ledger.SignedSubmission, blob []byte, name string, key *seal.Key) ([]byte, ledger.Reason, error) {
	pt, err := seal.Open(blob, name, key, seal.AAD(job.ID(), sub.Sub.Round, sub.Sub.Participant))
	if err != nil {
		return nil, ledger.ReasonBadUpdate, nil
	}
	return pt, "", nil
}
