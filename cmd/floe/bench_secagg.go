package main

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/job"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/round"
	"github.com/floe-fl/floe/seal"
	"github.com/floe-fl/floe/secagg"
)

// The benchmark's encoding: weights (example counts) in [1, 1000], clip 1
// (the deltas stay within ±0.005, so nothing is clipped) and scale 2^24.
const (
	secaggMaxWeight = 1000
	secaggClip      = 1.0
	secaggFracBits  = 24
	secaggRoundNo   = 1
	// secaggVerifySample is how many holders' share checks are timed.
	secaggVerifySample = 8
	// secaggJobThreshold is a job file's default secagg.threshold
	// (package job), for comparison with the threshold used here.
	secaggJobThreshold = "0.66"
)

// secaggReport is the document `floe bench secagg` prints. checks (not
// printed) holds each round's unmasked and sealed means for the tests.
type secaggReport struct {
	Config  map[string]any     `json:"config"`
	Cohorts []map[string]any   `json:"cohorts"`
	Papers  []map[string]any   `json:"papers"`
	Ratios  map[string]float64 `json:"ratios"`
	Notes   []string           `json:"notes"`
	checks  []secaggCheck
}

// secaggCheck is one round's output: the survivors, the mean DecodeMean
// returned and the sealed round's FedAvg of the same updates.
type secaggCheck struct {
	n, dim    int
	seed      uint64
	dropout   float64
	survivors []int
	weightSum uint64
	mean      []float64
	sealed    []float32
}

// benchSecagg plays whole secure-aggregation rounds in process, as the
// caller's contract of package secagg describes, and the sealed round of
// the same updates, all on one goroutine locked to its OS thread so that
// each step's CPU time is read from that thread's CPU clock.
func benchSecagg(args []string) (any, error) {
	fs := newFlagSet("bench secagg", "[--quick] [--cohorts 100,500] [--dim 100000] [--dropouts 0,0.1,0.3] [--seed N]", `  floe bench secagg
      rounds of 100 and 500 participants with 100K-parameter updates at 0%, 10% and 30% dropout,
      beside the PRG alone and the sealed round of the same updates
  floe bench secagg --quick
      100 participants at 0% and 30% dropout with 10K parameters, in a few seconds`)
	quick := fs.Bool("quick", false, "only 100 participants at 0% and 30% dropout with 10K parameters (explicit flags still win)")
	cohortsFlag := fs.String("cohorts", "100,500", "cohort sizes, comma-separated")
	dim := fs.Int("dim", 100_000, "parameters per update")
	dropFlag := fs.String("dropouts", "0,0.1,0.3", "dropout fractions, comma-separated: participants that drop after sending their shares")
	seed := fs.Uint64("seed", 1, "seed of the updates, keys and dropouts")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, usagef("unexpected arguments %q", fs.Args())
	}
	if *quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["cohorts"] {
			*cohortsFlag = "100"
		}
		if !set["dim"] {
			*dim = 10_000
		}
		if !set["dropouts"] {
			*dropFlag = "0,0.3"
		}
	}
	cohorts, err := parseInts(*cohortsFlag)
	if err != nil {
		return nil, err
	}
	for _, n := range cohorts {
		if n < 3 || n > 100_000 {
			return nil, usagef("--cohorts: %d is not in 3..100000", n)
		}
	}
	drops, err := parseFractions(*dropFlag)
	if err != nil {
		return nil, err
	}
	if *dim < 1 || *dim > 10_000_000 {
		return nil, usagef("--dim must be in 1..10000000, got %d", *dim)
	}
	slices.Sort(drops)
	drops = slices.Compact(drops)

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if threadCPU() < 0 {
		return nil, errors.New("bench secagg: no per-thread CPU clock (CLOCK_THREAD_CPUTIME_ID) here")
	}
	const reps = 3
	rep := &secaggReport{
		Config: map[string]any{
			"quick": *quick, "seed": *seed, "dim": *dim, "cohorts": cohorts, "dropouts": drops,
			"gomaxprocs": runtime.GOMAXPROCS(0), "goos": runtime.GOOS, "goarch": runtime.GOARCH, "go": runtime.Version(),
			"cpu_clock": "clock_gettime(CLOCK_THREAD_CPUTIME_ID) of the benchmark's goroutine, locked to its OS thread " +
				"(runtime.LockOSThread): every participant's and the coordinator's work runs serially on that thread, so its CPU time " +
				"is the work's (garbage collection on other threads excepted). getrusage(RUSAGE_THREAD) is the same clock " +
				"but advances only at scheduler ticks. Wall time beside it.",
			"encoding":            map[string]any{"max_weight": secaggMaxWeight, "clip": secaggClip, "frac_bits": secaggFracBits},
			"data":                "per participant i: weight 1+PCG(seed,i)%1000 and float32 deltas uniform in [-0.005, 0.005] from the same PCG",
			"coordinator_repeats": reps,
		},
		Ratios: map[string]float64{},
		Papers: secaggPapers(),
		Notes: []string{
			"Every participant's work runs for real (keys, shares, envelopes, masked vector, reveal), and the coordinator unmasks the real masked vectors of all survivors.",
			"Dropped participants send keys and envelopes, then no masked vector: the coordinator reconstructs their mask keys and re-expands their pairwise masks with each surviving neighbour.",
			"coordinator_unmask_over_prg_N_D: CPU of Domain.Unmask over CPU of the same number of mask expansions (ExpandCount) by the PRG alone (secagg.ExpandBench), same dimension, same run; coordinator_total_over_prg adds Recover of every needed Secret and DecodeMean.",
			"Shares are Feldman-verifiable as in package round: each participant commits to both sharing polynomials (secagg.SplitVerifiable, 2(t+1) points sent), " +
				"holders check each share they receive (participant.verify_shares, timed on a sample of holders), and the coordinator Recovers each Secret from the first t+1 shares and checks it against its commitment (round's fold when every share is good). " +
				"Recover costs about t+1 scalar inversions a Secret (circl on go-ristretto): that, not the PRG, is most of coordinator_total at 0% dropout.",
			"Sealed mode: each participant seals its safetensors update file to the coordinator (seal.Seal); the coordinator opens each (seal.Open), parses it and folds it with FedAvg.",
			"Bytes are counted on the encoded objects: 2 public keys of 32 bytes, k envelopes of secagg.EnvelopeSize, 2(t+1) commitment points of secagg.PointSize, the masked vector as (dim+1) 8-byte words, k revealed shares of secagg.RevealedShareSize; signatures and transport framing are not counted.",
		},
	}
	var sizes []secaggCohortResult
	for _, n := range cohorts {
		c, err := runSecaggCohort(*seed, n, *dim, drops, reps, rep.Ratios)
		if err != nil {
			return nil, err
		}
		rep.Cohorts = append(rep.Cohorts, c.out)
		rep.checks = append(rep.checks, c.checks...)
		c.out, c.checks = nil, nil
		sizes = append(sizes, c)
		runtime.GC()
	}
	// Bytes growth between the smallest and the largest cohort, beside
	// what O(log n + m) (the sparse graph's degree) and O(n + m) (the
	// complete graph of Bonawitz et al.) predict for the same formats.
	slices.SortFunc(sizes, func(a, b secaggCohortResult) int { return a.n - b.n })
	if len(sizes) > 1 && sizes[0].n < sizes[len(sizes)-1].n {
		lo, hi := sizes[0], sizes[len(sizes)-1]
		// A survivor sends k envelopes and k revealed shares, 2(t+1)
		// commitment points, its keys and its vector; in the complete graph
		// k = n-1 and t+1 grows in proportion.
		predicted := func(peers, tp1 int) float64 {
			return float64(peers*(secagg.EnvelopeSize+secagg.RevealedShareSize) + 2*tp1*secagg.PointSize + 2*32 + 8*(*dim+1))
		}
		linear := func(c secaggCohortResult) float64 {
			return predicted(c.n-1, (c.tp1*(c.n-1)+c.k-1)/c.k)
		}
		tag := fmt.Sprintf("%d_over_%d", hi.n, lo.n)
		rep.Ratios["participant_bytes_"+tag] = float64(hi.bytes) / float64(lo.bytes)
		rep.Ratios["participant_bytes_model_log_"+tag] = predicted(hi.k, hi.tp1) / predicted(lo.k, lo.tp1)
		rep.Ratios["participant_bytes_model_linear_"+tag] = linear(hi) / linear(lo)
		rep.Ratios["share_bytes_"+tag] = float64(hi.shareBytes) / float64(lo.shareBytes)
		rep.Ratios["share_bytes_model_log2n_"+tag] = math.Log2(float64(hi.n)) / math.Log2(float64(lo.n))
		rep.Ratios["share_bytes_model_linear_"+tag] = float64(hi.n-1) / float64(lo.n-1)
		rep.Notes = append(rep.Notes, "Bytes growth: participant_bytes_"+tag+" and share_bytes_"+tag+" (keys, envelopes and revealed shares, without the vector) are measured. "+
			"participant_bytes_model_log is what k = Degree(n, 3) = O(log n) neighbours predict, k*(EnvelopeSize+RevealedShareSize) + 2(t+1)*PointSize + 64 + 8(dim+1); "+
			"participant_bytes_model_linear the same with k = n-1 and t+1 in proportion (the complete graph, O(n + m)); share_bytes_model_* are log2 n and n-1.")
	}
	for k, v := range rep.Ratios {
		rep.Ratios[k] = round3(v)
	}
	return rep, nil
}

// parseFractions parses a comma-separated list of dropout fractions in
// [0, 0.9].
func parseFractions(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(v >= 0 && v <= 0.9) {
			return nil, usagef("bad dropout fraction %q in %q (want 0..0.9)", f, s)
		}
		out = append(out, v)
	}
	return out, nil
}

// cost is the CPU and wall time of some work.
type cost struct{ cpu, wall time.Duration }

func (c cost) plus(o cost) cost { return cost{c.cpu + o.cpu, c.wall + o.wall} }

func (c cost) min(o cost) cost { return cost{min(c.cpu, o.cpu), min(c.wall, o.wall)} }

// per reports c divided by count, in milliseconds.
func (c cost) per(count int) map[string]float64 {
	d := float64(max(count, 1)) * float64(time.Millisecond)
	return map[string]float64{"cpu_ms": round3(float64(c.cpu) / d), "wall_ms": round3(float64(c.wall) / d)}
}

// timed runs fn and returns its thread CPU and wall time.
func timed(fn func() error) (cost, error) {
	c0, w0 := threadCPU(), time.Now()
	err := fn()
	return cost{threadCPU() - c0, time.Since(w0)}, err
}

// secaggInput fills x with participant i's update and returns its weight.
// It depends on seed and i only, so the tests can recompute it.
func secaggInput(seed uint64, i int, x []float32) uint64 {
	g := &updateGen{r: rand.New(rand.NewPCG(seed, uint64(i)))}
	w := 1 + g.r.Uint64N(secaggMaxWeight)
	g.fill(x)
	return w
}

// secaggRand is participant i's randomness for one purpose.
func secaggRand(seed uint64, n, i int, purpose byte) *rand.ChaCha8 {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[0:], seed)
	binary.LittleEndian.PutUint64(s[8:], uint64(n))
	binary.LittleEndian.PutUint64(s[16:], uint64(i))
	s[24] = purpose
	return rand.NewChaCha8(s)
}

type secaggParty struct {
	mask, enc              secagg.KeyPair
	self                   secagg.Secret
	maskCommit, selfCommit secagg.Commitment
	weight                 uint64
}

// secaggRound is one dropout rate's state: who dropped, the plain weighted
// sum of the survivors' updates, and the figures measured.
type secaggRound struct {
	dropout   float64
	dropped   []int // ascending
	isDropped []bool
	plain     []float64
	weightSum uint64
	reveal    cost
	revealN   int
}

func (r *secaggRound) survivors() []int {
	s := make([]int, 0, len(r.isDropped)-len(r.dropped))
	for i, d := range r.isDropped {
		if !d {
			s = append(s, i)
		}
	}
	return s
}

// secaggCohortResult is one cohort's section of the report, its rounds'
// outputs and its survivor's bytes sent (all and without the vector).
type secaggCohortResult struct {
	n, k, tp1, bytes, shareBytes int
	out                          map[string]any
	checks                       []secaggCheck
}

func runSecaggCohort(seed uint64, n, dim int, drops []float64, reps int, ratios map[string]float64) (secaggCohortResult, error) {
	jobID := ledger.Sum([]byte("floe bench secagg"))
	dom := secagg.Domain{Job: jobID[:], Round: secaggRoundNo}
	k := secagg.Degree(n, secagg.DegreeFactor)
	g, err := secagg.NewGraph(dom, sha256.Sum256([]byte("round seed "+strconv.FormatUint(seed, 10))), n, k)
	if err != nil {
		return secaggCohortResult{}, err
	}
	enc, err := secagg.NewEncoding(n, secaggMaxWeight, secaggClip, secaggFracBits)
	if err != nil {
		return secaggCohortResult{}, err
	}
	// Dropped sets are nested: the first round(d*n) of one seeded
	// permutation, so the highest rate's set contains the others.
	order := rand.New(rand.NewPCG(seed, uint64(n))).Perm(n)
	rounds := make([]*secaggRound, len(drops))
	for ri, d := range drops {
		r := &secaggRound{dropout: d, isDropped: make([]bool, n), plain: make([]float64, dim)}
		r.dropped = slices.Sorted(slices.Values(order[:int(math.Round(d*float64(n)))]))
		for _, i := range r.dropped {
			r.isDropped[i] = true
		}
		if len(r.dropped) == n {
			return secaggCohortResult{}, usagef("--dropouts %g drops every participant of %d", d, n)
		}
		rounds[ri] = r
	}
	// Threshold: the doc's Security section suggests t+1 > 2k/3 against an
	// active coordinator; correctness needs t+1 surviving holders of every
	// needed Secret (each participant's surviving neighbours). t+1 is the
	// smaller of the two at the highest rate, fixed for all rates.
	fewest := map[string]int{}
	tp1 := 2*k/3 + 1
	for _, r := range rounds {
		m := k
		for i := range n {
			c := 0
			for _, j := range g.Neighbours(i) {
				if !r.isDropped[j] {
					c++
				}
			}
			m = min(m, c)
		}
		fewest[dropTag(r.dropout)] = m
		tp1 = min(tp1, m)
	}
	if tp1 < 1 {
		return secaggCohortResult{}, fmt.Errorf("bench secagg: n=%d: a participant has no surviving neighbour at the highest dropout rate", n)
	}
	t := tp1 - 1
	jobNeed := ledger.SecAggNeed(secaggJobThreshold, k)
	jobOK, leastOK := map[string]bool{}, map[string]bool{}
	for d, m := range fewest {
		jobOK[d], leastOK[d] = m >= jobNeed, m >= k/2+1
	}

	// Step 2: keys.
	ps := make([]secaggParty, n)
	pubs := make([]secagg.PublicKey, n)
	rngs := make([]*rand.ChaCha8, n)
	var keygen cost
	for i := range ps {
		p := &ps[i]
		rngs[i] = secaggRand(seed, n, i, 'p')
		c, err := timed(func() error {
			var err error
			if p.mask, err = secagg.NewKeyPair(rngs[i]); err != nil {
				return err
			}
			if p.enc, err = secagg.NewKeyPair(rngs[i]); err != nil {
				return err
			}
			p.self, err = secagg.NewSecret(rngs[i])
			return err
		})
		if err != nil {
			return secaggCohortResult{}, err
		}
		keygen = keygen.plus(c)
		pubs[i] = p.mask.Public
	}
	// Step 3: shares of both Secrets to each neighbour, sealed, with the
	// Feldman commitments of both polynomials (SplitVerifiable, as package
	// round's members share).
	inbox := make([][][]byte, n)
	var share cost
	envBytes, commitBytes := 0, 0
	for i := range ps {
		nb := g.Neighbours(i)
		c, err := timed(func() error {
			ms, mc, err := secagg.SplitVerifiable(ps[i].mask.Secret, t, nb, rngs[i])
			if err != nil {
				return err
			}
			ss, sc, err := secagg.SplitVerifiable(ps[i].self, t, nb, rngs[i])
			if err != nil {
				return err
			}
			ps[i].maskCommit, ps[i].selfCommit = mc, sc
			commitBytes += (len(mc) + len(sc)) * secagg.PointSize
			for j, h := range nb {
				env, err := dom.SealShares(&ps[i].enc, ps[h].enc.Public, secagg.Shares{From: i, To: h, MaskKey: ms[j].Value, SelfMask: ss[j].Value}, rngs[i])
				if err != nil {
					return err
				}
				inbox[h] = append(inbox[h], env)
				envBytes += len(env)
			}
			return nil
		})
		if err != nil {
			return secaggCohortResult{}, err
		}
		share = share.plus(c)
	}
	// A holder checks both shares of each envelope against its dealer's
	// commitments before it masks (round.SAMember.Masked). That costs
	// 2k commitment evaluations of t point multiplications each, so it is
	// timed on a sample of holders only (the shares are honest here).
	var verify cost
	sample := min(n, secaggVerifySample)
	for s := range sample {
		h := s * n / sample
		for _, env := range inbox[h] {
			from, _, err := secagg.EnvelopeHeader(env)
			if err != nil {
				return secaggCohortResult{}, err
			}
			sh, err := dom.OpenShares(&ps[h].enc, h, ps[from].enc.Public, from, env)
			if err != nil {
				return secaggCohortResult{}, err
			}
			c, err := timed(func() error {
				if !ps[from].maskCommit.Verify(t, secagg.ShareValue{Holder: h, Value: sh.MaskKey}) ||
					!ps[from].selfCommit.Verify(t, secagg.ShareValue{Holder: h, Value: sh.SelfMask}) {
					return fmt.Errorf("bench secagg: a share of %d for %d fails its commitment", from, h)
				}
				return nil
			})
			if err != nil {
				return secaggCohortResult{}, err
			}
			verify = verify.plus(c)
		}
	}
	// Step 4: every participant completed step 3 (U2 is the cohort), so
	// each masked vector is the same whatever the dropout rate: it is made
	// once, and a dropped participant's is simply never sent.
	masked := make([][]uint64, n)
	x := make([]float32, dim)
	var mask, encode cost // mask includes encode
	vecBytes := 0
	for i := range ps {
		w := secaggInput(seed, i, x)
		ps[i].weight = w
		for _, r := range rounds {
			if !r.isDropped[i] {
				for j, v := range x {
					r.plain[j] += float64(w) * float64(v)
				}
				r.weightSum += w
			}
		}
		v := make([]uint64, dim+1)
		ce, err := timed(func() error {
			var rs [32]byte // a fresh secret rounding seed per update
			if _, err := rngs[i].Read(rs[:]); err != nil {
				return err
			}
			return enc.Encode(v, x, w, rs)
		})
		if err != nil {
			return secaggCohortResult{}, err
		}
		cm, err := timed(func() error {
			peers := make([]secagg.Peer, 0, k)
			for _, j := range g.Neighbours(i) {
				peers = append(peers, secagg.Peer{Index: j, Public: pubs[j]})
			}
			return dom.Mask(v, enc.Bits, g, i, &ps[i].mask, ps[i].self, peers)
		})
		if err != nil {
			return secaggCohortResult{}, err
		}
		encode = encode.plus(ce)
		mask = mask.plus(ce).plus(cm)
		masked[i] = v
		vecBytes += int(round.MaskedInputBytes(len(v)-1, enc.Bits)) // as a member stores it (round.PutMasked)
	}

	var checks []secaggCheck
	var outRounds []map[string]any
	var coords []cost
	var revealAll cost
	revealN := 0
	for _, r := range rounds {
		surv := r.survivors()
		// Step 5: each survivor opens its envelopes and reveals one share
		// per neighbour: of the self mask of a survivor, of the mask key of
		// a dropped one.
		var msgs [][]byte
		for _, h := range surv {
			c, err := timed(func() error {
				for _, env := range inbox[h] {
					from, _, err := secagg.EnvelopeHeader(env)
					if err != nil {
						return err
					}
					sh, err := dom.OpenShares(&ps[h].enc, h, ps[from].enc.Public, from, env)
					if err != nil {
						return err
					}
					rs := secagg.RevealedShare{Kind: secagg.KindSelfMask, Owner: from, Holder: h, Value: sh.SelfMask}
					if r.isDropped[from] {
						rs = secagg.RevealedShare{Kind: secagg.KindMaskKey, Owner: from, Holder: h, Value: sh.MaskKey}
					}
					b, err := rs.MarshalBinary()
					if err != nil {
						return err
					}
					msgs = append(msgs, b)
				}
				return nil
			})
			if err != nil {
				return secaggCohortResult{}, err
			}
			r.reveal = r.reveal.plus(c)
		}
		r.revealN = len(surv)
		revealAll, revealN = revealAll.plus(r.reveal), revealN+r.revealN
		shareBytes := len(msgs) * secagg.RevealedShareSize

		// Step 6, repeated reps times beside the PRG baseline; the figures
		// are the least of each.
		inputs := make([]secagg.MaskedInput, len(surv))
		for j, i := range surv {
			inputs[j] = secagg.MaskedInput{Index: i, Vector: masked[i]}
		}
		sum := make([]uint64, dim+1)
		mean := make([]float64, dim)
		var recov, unmask, decode, prg cost
		var expanded int
		var wsum uint64
		prgBuf := make([]uint64, dim+1)
		count := secagg.ExpandCount(g, surv, r.dropped)
		prgRun := func() cost {
			runtime.GC()
			c, _ := timed(func() error {
				secagg.ExpandBench(prgBuf, count, sha256.Sum256([]byte("prg baseline")))
				return nil
			})
			return c
		}
		for rep := range reps {
			var cp cost
			if rep%2 == 1 { // alternate which goes first
				cp = prgRun()
			}
			runtime.GC()
			var selfs, dropped []secagg.Revealed
			cr, err := timed(func() error {
				by, err := secaggShares(n, msgs)
				if err != nil {
					return err
				}
				selfs, dropped, err = secaggRecover(by, t, ps, surv, r.dropped)
				return err
			})
			if err != nil {
				return secaggCohortResult{}, err
			}
			cu, err := timed(func() error {
				var err error
				expanded, err = dom.Unmask(sum, enc.Bits, g, inputs, selfs, dropped, pubs)
				return err
			})
			if err != nil {
				return secaggCohortResult{}, err
			}
			cd, err := timed(func() error {
				var err error
				wsum, err = enc.DecodeMean(mean, sum, len(surv))
				return err
			})
			if err != nil {
				return secaggCohortResult{}, err
			}
			if rep%2 == 0 {
				cp = prgRun()
			}
			if rep == 0 {
				recov, unmask, decode, prg = cr, cu, cd, cp
			} else {
				recov, unmask, decode, prg = recov.min(cr), unmask.min(cu), decode.min(cd), prg.min(cp)
			}
		}
		if expanded != count {
			return secaggCohortResult{}, fmt.Errorf("bench secagg: Unmask expanded %d masks, ExpandCount says %d", expanded, count)
		}
		if wsum != r.weightSum {
			return secaggCohortResult{}, fmt.Errorf("bench secagg: n=%d dropout %g: unmasked weight %d, survivors' weights sum to %d", n, r.dropout, wsum, r.weightSum)
		}
		// The doc's bound: each encoding errs by less than one unit, so the
		// mean errs by less than count*2^-f/sum(w).
		bound := float64(len(surv)) * math.Ldexp(1, -secaggFracBits) / float64(wsum)
		maxErr := 0.0
		for j, m := range mean {
			maxErr = math.Max(maxErr, math.Abs(m-r.plain[j]/float64(wsum)))
		}
		if maxErr >= bound {
			return secaggCohortResult{}, fmt.Errorf("bench secagg: n=%d dropout %g: unmasked mean errs by %g, bound %g", n, r.dropout, maxErr, bound)
		}
		coord := recov.plus(unmask).plus(decode)
		sentByAll := n*2*32 + envBytes + commitBytes + len(surv)*8*(dim+1) + shareBytes
		tag := fmt.Sprintf("%d_%s", n, dropTag(r.dropout))
		ratios["coordinator_unmask_over_prg_"+tag] = float64(unmask.cpu) / float64(prg.cpu)
		ratios["coordinator_unmask_over_prg_wall_"+tag] = float64(unmask.wall) / float64(prg.wall)
		ratios["coordinator_total_over_prg_"+tag] = float64(coord.cpu) / float64(prg.cpu)
		outRounds = append(outRounds, map[string]any{
			"dropout": r.dropout, "survivors": len(surv), "dropped": len(r.dropped),
			"expand_count": count, "secrets_recovered": len(surv) + len(r.dropped), "shares_revealed": len(msgs),
			"coordinator": map[string]any{
				"recover": recov.per(1), "unmask": unmask.per(1), "decode_mean": decode.per(1), "total": coord.per(1),
				"bytes_received": sentByAll,
			},
			"prg_baseline":        map[string]any{"vectors": count, "dim": dim + 1, "cost": prg.per(1)},
			"participant_bytes":   map[string]any{"mean_over_cohort": float64(sentByAll) / float64(n)},
			"reveal_per_survivor": r.reveal.per(len(surv)),
			"check": map[string]any{
				"max_abs_error": maxErr, "bound": bound, "weight_sum": wsum,
				"bound_rule": "count*2^-frac_bits/sum(w) (secagg doc, Encoding)",
			},
		})
		coords = append(coords, coord)
		checks = append(checks, secaggCheck{n: n, dim: dim, seed: seed, dropout: r.dropout, survivors: surv, weightSum: wsum, mean: mean})
	}
	masked, inbox = nil, nil
	runtime.GC()

	// The sealed round of the same updates.
	sealed, err := sealedRound(seed, n, dim, ps, rounds, reps)
	if err != nil {
		return secaggCohortResult{}, err
	}
	perParticipant := keygen.per(n)
	// A survivor's mean CPU: its steps, each averaged over those timed.
	survTotal := cost{}
	for _, c := range []struct {
		c     cost
		count int
	}{{keygen, n}, {share, n}, {verify, sample}, {mask, n}, {revealAll, revealN}} {
		survTotal = survTotal.plus(cost{c.c.cpu / time.Duration(c.count), c.c.wall / time.Duration(c.count)})
	}
	bytes := map[string]int{
		"keys": 2 * 32, "envelopes": envBytes / n, "commitments": commitBytes / n, "masked_vector": vecBytes / n, "revealed_shares": k * secagg.RevealedShareSize,
	}
	bytes["dropped_total"] = bytes["keys"] + bytes["envelopes"] + bytes["commitments"]
	bytes["survivor_total"] = bytes["dropped_total"] + bytes["masked_vector"] + bytes["revealed_shares"]
	ratios[fmt.Sprintf("participant_cpu_secagg_over_sealed_%d", n)] = float64(survTotal.cpu) / float64(sealed.seal.cpu)
	ratios[fmt.Sprintf("participant_bytes_secagg_over_sealed_%d", n)] = float64(bytes["survivor_total"]) / sealed.bytes
	for ri, r := range rounds {
		or, coord, sr := outRounds[ri], coords[ri], sealed.rounds[ri]
		or["sealed"] = map[string]any{
			"coordinator":            map[string]any{"open": sr.open.per(1), "fold": sr.fold.per(1), "total": sr.open.plus(sr.fold).per(1), "bytes_received": sr.bytes},
			"max_abs_error_vs_plain": sr.maxErr,
		}
		tag := fmt.Sprintf("%d_%s", n, dropTag(r.dropout))
		ratios["coordinator_cpu_secagg_over_sealed_"+tag] = float64(coord.cpu) / float64(sr.open.plus(sr.fold).cpu)
		checks[ri].sealed = sr.mean
	}
	out := map[string]any{
		"n": n, "dim": dim, "ring_bits": enc.Bits,
		"threshold": map[string]any{
			"k": k, "t": t, "t_plus_1": tp1, "doc_t_plus_1": 2*k/3 + 1, "fewest_surviving_neighbours": fewest,
			"tolerated_dropped_neighbours": k - tp1,
			"active_bound_holds":           2*tp1 > k,
			"job_default_threshold":        secaggJobThreshold,
			"job_default_t_plus_1":         jobNeed,
			"job_default_recovers_at":      jobOK,
			"job_least_t_plus_1":           k/2 + 1,
			"job_least_recovers_at":        leastOK,
			"rule": "t+1 = min(floor(2k/3)+1, the fewest surviving neighbours of any participant at the highest dropout rate); " +
				"dropped sets are nested seeded draws, so every needed Secret has t+1 surviving holders at every rate. " +
				"Honest-but-curious: the coordinator with at most t colluding participants learns no honest Secret. " +
				"active_bound_holds says whether 2(t+1) > k, the doc's bound against an active coordinator with no corrupt participant: " +
				"where the fewest surviving neighbours are below floor(2k/3)+1, correctness at the highest rate forces t below the doc's suggestion. " +
				"job_*: what a floe job would use, t+1 = ledger.SecAggNeed(threshold, k) with the job file's default threshold, and the least t+1 any job " +
				"threshold in (0.5, 1] gives (floor(k/2)+1); *_recovers_at says at which dropout rates every needed Secret keeps that many surviving holders here.",
		},
		"participant": map[string]any{
			"measured":             n,
			"keygen":               perParticipant,
			"share_split_seal":     share.per(n),
			"verify_shares":        verify.per(sample),
			"verify_sampled":       sample,
			"mask_encode_mask":     mask.per(n),
			"mask_of_which_encode": encode.per(n),
			"unmask_reveal":        revealAll.per(revealN),
			"total_survivor":       survTotal.per(1),
			"bytes_sent":           bytes,
			"expansion_over_f32":   round3(float64(bytes["survivor_total"]) / float64(4*dim)),
			"sealed_seal":          sealed.seal.per(1),
			"sealed_bytes_sent":    sealed.bytes,
			"sealed_file_bytes":    sealed.fileBytes,
			"sealed_marshal_file":  sealed.marshal.per(1),
		},
		"rounds": outRounds,
	}
	return secaggCohortResult{n: n, k: k, tp1: tp1, bytes: bytes["survivor_total"], out: out, checks: checks,
		shareBytes: bytes["keys"] + bytes["envelopes"] + bytes["commitments"] + bytes["revealed_shares"]}, nil
}

func dropTag(d float64) string { return strconv.FormatFloat(d, 'f', -1, 64) }

// secaggShares parses the revealed shares the coordinator received and
// files them by kind and owner.
func secaggShares(n int, msgs [][]byte) ([3][][]secagg.ShareValue, error) {
	by := [3][][]secagg.ShareValue{nil, make([][]secagg.ShareValue, n), make([][]secagg.ShareValue, n)}
	for _, b := range msgs {
		var rs secagg.RevealedShare
		if err := rs.UnmarshalBinary(b); err != nil {
			return by, err
		}
		by[rs.Kind][rs.Owner] = append(by[rs.Kind][rs.Owner], secagg.ShareValue{Holder: rs.Holder, Value: rs.Value})
	}
	return by, nil
}

// secaggRecover Recovers each survivor's self-mask Secret and each dropped
// participant's mask-key Secret from the first t+1 of its shares and
// checks it against its owner's commitment, as package round's fold does
// when every share is good (one check a Secret).
func secaggRecover(by [3][][]secagg.ShareValue, t int, ps []secaggParty, surv, drop []int) (selfs, dropped []secagg.Revealed, err error) {
	get := func(kind secagg.ShareKind, i int) (secagg.Revealed, error) {
		sh := by[kind][i]
		s, err := secagg.Recover(t, sh[:min(len(sh), t+1)])
		if err != nil {
			return secagg.Revealed{}, fmt.Errorf("secret %d of %d: %w", kind, i, err)
		}
		c := ps[i].selfCommit
		if kind == secagg.KindMaskKey {
			c = ps[i].maskCommit
		}
		if !c.Commits(t, s) {
			return secagg.Revealed{}, fmt.Errorf("secret %d of %d: not the committed one", kind, i)
		}
		return secagg.Revealed{Index: i, Secret: s}, nil
	}
	for _, i := range surv {
		r, err := get(secagg.KindSelfMask, i)
		if err != nil {
			return nil, nil, err
		}
		selfs = append(selfs, r)
	}
	for _, i := range drop {
		r, err := get(secagg.KindMaskKey, i)
		if err != nil {
			return nil, nil, err
		}
		dropped = append(dropped, r)
	}
	return selfs, dropped, nil
}

type sealedFigures struct {
	seal, marshal    cost // per participant
	bytes, fileBytes float64
	rounds           []sealedRoundFigures
}

type sealedRoundFigures struct {
	open, fold cost
	bytes      int
	maxErr     float64
	mean       []float32
}

// sealedRound seals every participant's update file to the coordinator as
// participant.doRound does, then, per dropout rate, opens and folds the
// survivors' updates with FedAvg as the coordinator's fold does.
func sealedRound(seed uint64, n, dim int, ps []secaggParty, rounds []*secaggRound, reps int) (*sealedFigures, error) {
	var ks [32]byte
	binary.LittleEndian.PutUint64(ks[:], seed)
	key, err := seal.DeriveKey(append([]byte("floe bench secagg coordinator key"), ks[:]...))
	if err != nil {
		return nil, err
	}
	jobID := ledger.Sum([]byte("floe bench secagg"))
	recipients := []ledger.Recipient{key.Recipient(job.CoordinatorRecipient)}
	meta := map[string]string{"floe.kind": "update", "floe.round": strconv.Itoa(secaggRoundNo)}
	blobs := make([][]byte, n)
	x := make([]float32, dim)
	f := &sealedFigures{}
	var sealC, marshalC cost
	total := 0
	for i := range n {
		secaggInput(seed, i, x)
		var file []byte
		c, err := timed(func() error {
			var err error
			file, err = model.MarshalSafetensors(&model.Params{Tensors: []model.Tensor{{Name: "delta", Shape: []int{dim}, Data: x}}}, meta)
			return err
		})
		if err != nil {
			return nil, err
		}
		marshalC = marshalC.plus(c)
		c, err = timed(func() error {
			var err error
			blobs[i], err = seal.Seal(file, recipients, seal.AAD(jobID, secaggRoundNo, peerName(i)), secaggRand(seed, n, i, 's'))
			return err
		})
		if err != nil {
			return nil, err
		}
		sealC = sealC.plus(c)
		total += len(blobs[i])
		f.fileBytes = float64(len(file))
	}
	f.seal = cost{sealC.cpu / time.Duration(n), sealC.wall / time.Duration(n)}
	f.marshal = cost{marshalC.cpu / time.Duration(n), marshalC.wall / time.Duration(n)}
	f.bytes = float64(total) / float64(n)
	zero := make([]float32, dim)
	buf := make([]float32, dim)
	for _, r := range rounds {
		surv := r.survivors()
		var sr sealedRoundFigures
		out := make([]float32, dim)
		for rep := range reps {
			runtime.GC()
			a, err := aggregate.New(aggregate.Spec{Rule: "fedavg"}, dim)
			if err != nil {
				return nil, err
			}
			var open, fold cost
			bytes := 0
			for _, i := range surv {
				var pt []byte
				c, err := timed(func() error {
					var err error
					pt, err = seal.Open(blobs[i], job.CoordinatorRecipient, key, seal.AAD(jobID, secaggRoundNo, peerName(i)))
					return err
				})
				if err != nil {
					return nil, err
				}
				open = open.plus(c)
				bytes += len(blobs[i])
				c, err = timed(func() error {
					p, _, err := model.UnmarshalSafetensors(pt)
					if err != nil {
						return err
					}
					return a.Add(aggregate.Update{Participant: peerName(i), NumExamples: ps[i].weight, Delta: p.Flatten(buf)})
				})
				if err != nil {
					return nil, err
				}
				fold = fold.plus(c)
			}
			c, err := timed(func() error { return a.Finish(zero, out) })
			if err != nil {
				return nil, err
			}
			fold = fold.plus(c)
			if rep == 0 {
				sr.open, sr.fold = open, fold
			} else {
				sr.open, sr.fold = sr.open.min(open), sr.fold.min(fold)
			}
			sr.bytes = bytes
		}
		for j, m := range out {
			sr.maxErr = math.Max(sr.maxErr, math.Abs(float64(m)-r.plain[j]/float64(r.weightSum)))
		}
		sr.mean = out
		f.rounds = append(f.rounds, sr)
	}
	return f, nil
}

// secaggPapers are the published figures to set beside the measured ones.
// Only what could be read at the named source is given as a value.
func secaggPapers() []map[string]any {
	return []map[string]any{
		{
			"source":   "Bonawitz, Ivanov, Kreuter, Marcedone, McMahan, Patel, Ramage, Segal, Seth: Practical Secure Aggregation for Federated Learning on User-Held Data, arXiv:1611.04482 (2016), abstract",
			"figure":   "communication expansion over sending 16-bit inputs in the clear",
			"values":   map[string]float64{"users_2^10_dim_2^20": 1.73, "users_2^14_dim_2^24": 1.98},
			"verified": "abstract text, read at https://aisecurity-portal.org/literature-database/practical-secure-aggregation-for-federated-learning-on-user-held-data/",
			"compare":  "participant.expansion_over_f32 (here over float32 inputs, with 8-byte ring words)",
		},
		{
			"source":   "Bonawitz et al., Practical Secure Aggregation for Privacy-Preserving Machine Learning, CCS 2017, Section 7 (client and server running time, 500 clients, 100K-entry vectors, 0/10/30% dropout)",
			"figure":   "per-client and server computation time",
			"values":   nil,
			"verified": "not verified: the paper's table and figures could not be read here, so no number is given",
		},
		{
			"source": "Bell, Bonawitz, Gascón, Lepoint, Raykova: Secure Single-Server Aggregation with (Poly)Logarithmic Overhead, CCS 2020, abstract",
			"figure": "semi-honest: a billion clients at the per-client cost of Bonawitz et al. for a thousand; semi-malicious with 10^4 clients: " +
				"each client talks to 3% of the clients for an input summed with at least 5000 others, with up to 5% corrupt clients and 5% dropouts",
			"values":   map[string]float64{"clients": 1e4, "neighbour_fraction": 0.03, "min_summed_with": 5000, "corrupt_fraction": 0.05, "dropout_fraction": 0.05},
			"verified": "abstract text, read at https://paperexplained.cn/articles/paper/detail/3602b6d15b6106d08ea6301a21fa8446a9e9e0c5",
			"compare":  "threshold.k: Degree(10^4, 3) = 40 neighbours is 0.4% of 10^4; its constant is floe's choice, not theirs (secagg doc)",
		},
	}
}
