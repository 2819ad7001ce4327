package audit

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
)

// FuzzApplySigned feeds Apply commitments the coordinator really signed but
// whose content is arbitrary (a lying coordinator), optionally with the
// fields that must match fixed up so that the fuzzer reaches the submission,
// receipt, quorum, share and replay checks. Apply must never panic, and
// every failure must be a *CheckError of round 1.
func FuzzApplySigned(f *testing.F) {
	key := testCoordinatorKey(f)
	jobBlob, jobRec := signedJob(f, func(j *ledger.JobSpec) { j.Arch = "mlp:3-2-2"; j.MinParticipants = 1 })
	st, err := NewState(jobBlob, jobRec, Options{})
	if err != nil {
		f.Fatal(err)
	}
	arch, err := model.ParseArch("mlp:3-2-2")
	if err != nil {
		f.Fatal(err)
	}
	mb, err := model.MarshalSafetensors(arch.Init(1), nil)
	if err != nil {
		f.Fatal(err)
	}
	st.Model, st.ModelHash, st.ModelData = ledger.BlobID(ledger.Sum([]byte("model"))), ledger.Sum(mb), mb
	// Seeds: testdata/fuzz/FuzzApplySigned.
	f.Fuzz(func(t *testing.T, b []byte, fix uint8) {
		var c ledger.Commitment
		if codec.Unmarshal(b, &c) != nil {
			return
		}
		if fix&1 != 0 {
			c.Version, c.Job, c.Round, c.Prev, c.Rule = ledger.Version, st.JobID, 1, jobBlob, st.Job.Aggregation
		}
		if fix&2 != 0 {
			c.InputModel, c.InputModelHash = st.Model, st.ModelHash
		}
		if fix&4 != 0 {
			c.CohortSeed = ledger.CohortSeed(st.JobID, 1, jobBlob)
			slices.Sort(c.Candidates)
			c.Candidates = slices.Compact(c.Candidates)
			c.Cohort = ledger.DrawCohort(c.CohortSeed, c.Candidates, int(st.Job.CohortSize))
		}
		sc, err := ledger.SignCommitment(key, c)
		if err != nil {
			return
		}
		rec, err := ledger.EncodeCommitment(sc)
		if err != nil {
			return
		}
		id, err := blob.ComputeID(rec, 1)
		if err != nil {
			t.Fatal(err)
		}
		blobs := map[ledger.BlobID]Blob{c.OutputModel: {Data: mb}}
		for _, s := range c.Submissions {
			blobs[s.Signed.Sub.Blob] = Blob{Data: mb}
		}
		_, _, err = st.Apply(context.Background(), Entry{ID: ledger.BlobID(id), Record: rec, Blobs: blobs})
		var ce *CheckError
		if err != nil && (!errors.As(err, &ce) || ce.Round != 1) {
			t.Fatalf("Apply failed with %v, want a round-1 CheckError", err)
		}
	})
}
