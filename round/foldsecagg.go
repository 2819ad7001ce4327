package round

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/decimal"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/secagg"
)

// MaskedInputBytes returns the size of a masked input for a model of dim
// float parameters in the ring Z_{2^bits}: dim ring elements and the
// weight, each ceil(bits/8) bytes, little-endian (PutMasked).
func MaskedInputBytes(dim, bits int) uint64 { return uint64(dim+1) * uint64(maskedWord(bits)) }

// maskedWord is the bytes of one ring element of Z_{2^bits}.
func maskedWord(bits int) int { return (bits + 7) / 8 }

// PutMasked returns a masked vector of ring elements of Z_{2^bits} as a
// masked input's bytes: each element in ceil(bits/8) bytes, little-endian.
func PutMasked(vec []uint64, bits int) []byte {
	w := maskedWord(bits)
	b := make([]byte, w*len(vec))
	var word [8]byte
	for i, x := range vec {
		binary.LittleEndian.PutUint64(word[:], x)
		copy(b[w*i:], word[:w])
	}
	return b
}

// addMasked adds the ring elements of a masked input's bytes b (as
// PutMasked writes them) to sum, modulo 2^64.
func addMasked(sum []uint64, b []byte, bits int) {
	w := maskedWord(bits)
	var word [8]byte
	for j := range sum {
		copy(word[:w], b[w*j:w*j+w])
		sum[j] += binary.LittleEndian.Uint64(word[:])
	}
}

// SecAggWeight returns the weight a member encodes into its masked input:
// 1 under central DP (every member counts once), else its examples.
func SecAggWeight(job *ledger.JobSpec, examples uint64) uint64 {
	if spec, err := aggregate.ParseCanonical(job.Aggregation); err == nil {
		if _, dp := spec.DP(); dp {
			return 1
		}
	}
	return examples
}

// foldSecAgg is Fold for a secagg round: it recovers the secrets the
// unmasking needs from the signed reveals (self-mask seeds of the
// survivors, mask keys of the members that shared and then dropped), sums
// the survivors' masked inputs one at a time, removes the masks, decodes
// the weighted mean and applies it through the job's rule (FedAvg family
// only). It never sees an individual update. Whatever stops the unmasking
// (a secret without enough consistent shares, a masked input that does
// not match its hash, a sum out of range) fails the round with the reason,
// naming the member.
func foldSecAgg(ctx context.Context, in FoldInput, open Opener) (*FoldOutput, error) {
	job, t := in.Job, in.SecAgg
	out := &FoldOutput{Records: make([]ledger.SubmissionRecord, len(in.Subs))}
	for i := range in.Subs {
		out.Records[i] = ledger.SubmissionRecord{Signed: in.Subs[i], Status: ledger.StatusAccepted}
	}
	fail := func(format string, args ...any) (*FoldOutput, error) {
		out.Status, out.Reason = ledger.StatusFailed, fmt.Sprintf(format, args...)
		out.Model, out.State, out.Secrets, out.Valid = in.Global, in.State, nil, 0
		return out, nil
	}
	if t.Fail != "" {
		return fail("%s", t.Fail)
	}
	spec, err := aggregate.ParseCanonical(job.Aggregation)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFold, err)
	}
	global, _, err := model.UnmarshalSafetensors(in.Global)
	if err != nil {
		return nil, fmt.Errorf("%w: input model: %v", ErrFold, err)
	}
	dim := global.Len()
	if size := MaskedInputBytes(dim, int(job.SecAgg.Bits)); job.MaxUpdateBytes != size {
		return nil, fmt.Errorf("%w: job's masked inputs are %d bytes, the model needs %d", ErrFold, job.MaxUpdateBytes, size)
	}
	agg, err := aggregate.New(spec, dim)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFold, err)
	}
	if len(in.State) > 0 {
		if err := agg.SetState(in.State); err != nil {
			return nil, fmt.Errorf("%w: aggregator state: %v", ErrFold, err)
		}
	}
	enc, err := job.SecAgg.Encoding(job.ExamplesBound())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFold, err)
	}
	n := len(t.Cohort)
	g, err := SecAggGraph(job.ID(), in.Round, t.Seed, n)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFold, err)
	}
	index := make(map[string]int, n)
	for i, p := range t.Cohort {
		index[p] = i
	}
	pubs := make([]secagg.PublicKey, n)
	advertised := make([]bool, n)
	for _, k := range t.Record.Keys {
		i := index[k.Adv.Participant]
		copy(pubs[i][:], k.Adv.MaskKey)
		advertised[i] = true
	}
	shares := map[[2]int][]secagg.ShareValue{}
	for _, rv := range t.Record.Reveals {
		for _, b := range rv.Rev.Shares {
			var s secagg.RevealedShare
			if err := s.UnmarshalBinary(b); err != nil {
				return nil, fmt.Errorf("%w: reveal of %s: %v", ErrFold, rv.Rev.Participant, err)
			}
			k := [2]int{int(s.Kind), s.Owner}
			shares[k] = append(shares[k], secagg.ShareValue{Holder: s.Holder, Value: s.Value})
		}
	}
	survivors := make([]int, 0, len(t.Record.Survivors))
	for _, p := range t.Record.Survivors {
		survivors = append(survivors, index[p])
	}
	var selfs, dropped []secagg.Revealed
	for _, s := range t.Record.Shares {
		p := s.Hdr.Participant
		i := index[p]
		kind, what := secagg.KindSelfMask, "self-mask seed"
		if _, ok := slices.BinarySearch(t.Record.Survivors, p); !ok {
			kind, what = secagg.KindMaskKey, "mask key"
		}
		holders := 0
		for _, j := range g.Neighbours(i) {
			if advertised[j] {
				holders++
			}
		}
		need := ledger.SecAggNeed(job.SecAgg.Threshold, holders)
		commit := secagg.Commitment(s.Hdr.SelfCommit)
		if kind == secagg.KindMaskKey {
			commit = secagg.Commitment(s.Hdr.MaskCommit)
		}
		sec, err := recoverVerified(need-1, commit, shares[[2]int{int(kind), i}])
		if err != nil {
			return fail("secagg: cannot recover the %s of %s: %v", what, p, err)
		}
		r := secagg.Revealed{Index: i, Secret: sec}
		if kind == secagg.KindSelfMask {
			selfs = append(selfs, r)
		} else {
			if secagg.KeyPairFrom(sec).Public != pubs[i] {
				return fail("secagg: the recovered mask key of %s does not derive its advertised key", p)
			}
			dropped = append(dropped, r)
		}
		out.Secrets = append(out.Secrets, ledger.RecoveredSecret{Participant: p, Kind: uint8(kind), Secret: slices.Clone(sec[:])})
	}
	// Sum the masked inputs one at a time: memory O(model), whatever the cohort.
	sum := make([]uint64, dim+1)
	for k := range in.Subs {
		s := &in.Subs[k]
		b, reason, err := open(ctx, s)
		if err != nil {
			return nil, err
		}
		switch {
		case reason != "":
		case uint64(len(b)) != MaskedInputBytes(dim, enc.Bits):
			reason = ledger.ReasonSizeMismatch
		case ledger.Sum(b) != s.Sub.UpdateHash:
			reason = ledger.ReasonHash
		}
		if reason != "" {
			// Its masks cannot be removed without revealing both its
			// secrets: the round fails.
			out.Records[k].Status, out.Records[k].Reason = ledger.StatusRejected, reason
			res, _ := fail("secagg: masked input of %s: %s", s.Sub.Participant, reason)
			res.Records = out.Records
			return res, nil
		}
		addMasked(sum, b, enc.Bits)
	}
	if _, err := SecAggDomain(job.ID(), in.Round).UnmaskSum(sum, enc.Bits, g, survivors, selfs, dropped, pubs); err != nil {
		return fail("secagg: unmasking: %v", err)
	}
	meanDelta := make([]float64, dim)
	weight, err := enc.DecodeMean(meanDelta, sum, len(survivors))
	if err != nil {
		return fail("secagg: %v", err)
	}
	var totalExamples uint64
	for _, s := range in.Subs {
		totalExamples += s.Sub.NumExamples
	}
	out.Valid = len(in.Subs)
	if out.Status, out.Reason = Outcome(job, out.Valid); out.Status == ledger.StatusFailed {
		return fail("%s", out.Reason)
	}
	if err := aggregate.AddMean(agg, meanDelta, float64(weight), len(survivors)); err != nil {
		return fail(RuleFailedPrefix+"%v", err)
	}
	agg.SetNoiseSeed(in.NoiseSeed)
	flat := global.Flatten(nil)
	if err := agg.Finish(flat, flat); err != nil {
		agg.Reset()
		return fail(RuleFailedPrefix+"%v", err)
	}
	for i := range out.Records {
		out.Records[i].Share = Share(out.Records[i].Signed.Sub.NumExamples, totalExamples)
	}
	if err := global.SetFlat(flat); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFold, err)
	}
	if out.Model, err = model.MarshalSafetensors(global, ModelMeta(job, in.Round)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFold, err)
	}
	out.State = agg.State()
	return out, nil
}

// SecAggUpdate is what a member of a secagg round does with its update
// (a delta in the global model's flattened order): clip it to the job's
// norm bound when the job clips (or to dp_clip under central DP, which
// the coordinator cannot check), and encode it with its weight into dst
// (length dim+1) with the secret rounding seed.
func SecAggUpdate(job *ledger.JobSpec, dst []uint64, delta []float32, examples uint64, roundingSeed [32]byte) error {
	enc, err := job.SecAgg.Encoding(job.ExamplesBound())
	if err != nil {
		return err
	}
	bound := 0.0
	if job.Clip {
		nb, err := decimal.ParseOptional(job.NormBound)
		if err != nil {
			return err
		}
		bound = nb.Float64()
	}
	if spec, err := aggregate.ParseCanonical(job.Aggregation); err == nil {
		if dp, ok := spec.DP(); ok && (bound == 0 || dp.ClipNorm < bound) {
			bound = dp.ClipNorm
		}
	}
	if _, err := (aggregate.Validator{Dim: len(delta), NormBound: bound, Clip: true}).Check(delta); err != nil {
		return err
	}
	return enc.Encode(dst, delta, SecAggWeight(job, examples), roundingSeed)
}

// PrepareSecAgg fills in what a secagg job's coordinator derives before
// signing it: the ring (SecAgg.Bits, when 0: the least that holds the
// cohort's sum, secagg.RingBits) and MaxUpdateBytes (the exact masked
// input size for the initial model). Other jobs are left as they are.
func PrepareSecAgg(spec *ledger.JobSpec, initial []byte) error {
	if spec.Privacy != ledger.PrivacySecAgg || spec.SecAgg == nil {
		return nil
	}
	g, _, err := model.UnmarshalSafetensors(initial)
	if err != nil {
		return fmt.Errorf("round: secagg initial model: %w", err)
	}
	if spec.SecAgg.Bits == 0 {
		clip, err := decimal.Parse(spec.SecAgg.Clip)
		if err != nil {
			return fmt.Errorf("round: secagg clip: %w", err)
		}
		bits, err := secagg.RingBits(int(min(spec.CohortSize, ledger.MaxCohort)), spec.ExamplesBound(), clip.Float64(), int(spec.SecAgg.FracBits))
		if err != nil {
			return fmt.Errorf("round: secagg ring for cohort %d, %d examples, clip %s, %d fractional bits: %w", spec.CohortSize, spec.ExamplesBound(), spec.SecAgg.Clip, spec.SecAgg.FracBits, err)
		}
		spec.SecAgg.Bits = uint64(bits)
	}
	spec.MaxUpdateBytes = MaskedInputBytes(g.Len(), int(spec.SecAgg.Bits))
	return nil
}

// recoverVerified recovers a secret shared with threshold t and Feldman
// commitment c from revealed shares (ascending by holder): from the first
// t+1 when the result is the committed secret (the usual case: one check),
// else from the first t+1 of the shares that verify, so that wrong shares
// revealed by a dishonest holder are left out. Fewer than t+1 good shares
// is an error.
func recoverVerified(t int, c secagg.Commitment, shares []secagg.ShareValue) (secagg.Secret, error) {
	if len(shares) >= t+1 {
		if sec, err := secagg.Recover(t, shares[:t+1]); err == nil && c.Commits(t, sec) {
			return sec, nil
		}
	}
	var good []secagg.ShareValue
	for _, sh := range shares {
		if c.Verify(t, sh) {
			good = append(good, sh)
		}
	}
	if len(good) < t+1 {
		return secagg.Secret{}, fmt.Errorf("%d of %d revealed shares verify against the commitment, need %d", len(good), len(shares), t+1)
	}
	sec, err := secagg.Recover(t, good[:t+1])
	if err != nil {
		return secagg.Secret{}, err
	}
	if !c.Commits(t, sec) {
		return secagg.Secret{}, fmt.Errorf("recovered secret is not the committed one")
	}
	return sec, nil
}
