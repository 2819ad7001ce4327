package sims

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/participant"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Attacks that Options.Attackers participants mount (Options.Attack; ""
// is AttackSignFlip). Which participants attack is Options.AttackerSet:
// the first Options.Attackers (AttackersFirst, the default) or ones spread
// evenly over the federation (AttackersSpread).
const (
	// AttackSignFlip sends the honest update times -10.
	AttackSignFlip = "signflip"
	// AttackGaussian sends an update drawn from N(0, 200 I): the Gaussian
	// attack Fang et al. compare with (Fang, Cao, Jia and Gong, "Local Model
	// Poisoning Attacks to Byzantine-Robust Federated Learning", USENIX
	// Security 2020, Section 5).
	AttackGaussian = "gaussian"
	// AttackLabelFlip trains on the attacker's data with every label l
	// replaced by L-l-1 (Fang et al. 2020, Section 5).
	AttackLabelFlip = "labelflip"
	// AttackFangTrim is Fang et al.'s full-knowledge attack on trimmed mean
	// and median (Section 4): crafted values beyond the benign extremes,
	// against the benign direction of each coordinate.
	AttackFangTrim = "fang-trim"
	// AttackFangKrum is Fang et al.'s full-knowledge attack on Krum
	// (Section 4): -lambda*s, lambda found by binary search.
	AttackFangKrum = "fang-krum"
	// AttackLIE is "A Little Is Enough" (Baruch, Baruch and Goldberg,
	// NeurIPS 2019): the benign mean plus z_max benign standard deviations
	// per coordinate.
	AttackLIE = "lie"
	// AttackFangTrimPartial is Fang et al.'s partial-knowledge attack on
	// trimmed mean and median (Section 4): the attackers know only their
	// own data, estimate each coordinate's benign mean mu_j, standard
	// deviation sigma_j and direction s_j from their own honest updates,
	// and send values drawn from [mu_j+3sigma_j, mu_j+4sigma_j] when s_j <
	// 0, else [mu_j-4sigma_j, mu_j-3sigma_j].
	AttackFangTrimPartial = "fang-trim-partial"
	// AttackFangKrumPartial is Fang et al.'s partial-knowledge attack on
	// Krum (Section 4): AttackFangKrum with the attackers' own honest
	// updates standing for the benign ones.
	AttackFangKrumPartial = "fang-krum-partial"
)

// Attacks lists the attack names.
func Attacks() []string {
	return []string{AttackSignFlip, AttackGaussian, AttackLabelFlip, AttackFangTrim, AttackFangKrum, AttackLIE, AttackFangTrimPartial, AttackFangKrumPartial}
}

// partialKnowledge reports whether the attack knows only the attackers'
// own data: it crafts from their honest updates instead of everyone's.
func partialKnowledge(attack string) bool {
	return attack == AttackFangTrimPartial || attack == AttackFangKrumPartial
}

// fullKnowledge reports whether the attack reads the round's honest updates.
func fullKnowledge(attack string) bool {
	return attack == AttackFangTrim || attack == AttackFangKrum || attack == AttackLIE
}

// crafting reports whether the attack's updates are crafted by the shared
// adversary (full or partial knowledge).
func crafting(attack string) bool { return fullKnowledge(attack) || partialKnowledge(attack) }

// validateAttack reports whether o's attack can be mounted by o.Attackers
// of o.Participants participants.
func (o *Options) validateAttack() error {
	if o.Attack != "" && !slices.Contains(Attacks(), o.Attack) {
		return fmt.Errorf("sims: unknown attack %q (want one of %v)", o.Attack, Attacks())
	}
	c, n := o.Attackers, o.Participants
	if c == 0 || !crafting(o.Attack) {
		return nil
	}
	switch {
	case o.Attack == AttackFangTrimPartial && c < 2:
		return fmt.Errorf("sims: attack %s estimates the benign spread from the attackers' own updates: it needs at least 2 attackers, got %d", o.Attack, c)
	case o.Attack == AttackFangKrumPartial && (c < 3 || n-2*c-1 < 1):
		return fmt.Errorf("sims: attack %s needs at least 3 attackers (its own updates stand for the benign ones) and participants >= 2*attackers+2, got %d of %d", o.Attack, c, n)
	case n-c < 2:
		return fmt.Errorf("sims: attack %s needs at least 2 honest participants, have %d", o.Attack, n-c)
	case o.Attack == AttackLIE && c > n/2:
		return fmt.Errorf("sims: attack %s needs attackers <= participants/2 (%d), got %d", o.Attack, n/2, c)
	case o.Attack == AttackFangKrum && (n-c < 3 || n-2*c-1 < 1):
		return fmt.Errorf("sims: attack %s needs participants >= 2*attackers+2 and 3 honest participants, got %d of %d", o.Attack, c, n)
	}
	return nil
}

// signFlip is the sign-flipping attack: d = -10 d.
func signFlip(d []float32) {
	for j := range d {
		d[j] *= -10
	}
}

// gaussianVariance is the variance of the Gaussian attack's update, as in
// Fang et al. 2020, Section 5.
const gaussianVariance = 200

// gaussianUpdate fills d with draws from N(0, gaussianVariance).
func gaussianUpdate(d []float32, rng *rand.Rand) {
	sd := math.Sqrt(gaussianVariance)
	for j := range d {
		d[j] = float32(sd * rng.NormFloat64())
	}
}

// flipLabels returns a copy of d whose labels l are L-l-1, L = d.Classes:
// the label-flipping attack of Fang et al. 2020, Section 5.
func flipLabels(d *model.Dataset) *model.Dataset {
	out := *d
	out.Y = make([]int, len(d.Y))
	for i, y := range d.Y {
		out.Y[i] = d.Classes - y - 1
	}
	return &out
}

// direction reports s_j, the sign of the sum of the honest updates in
// coordinate j: the way the j-th parameter moves without the attack. A zero
// sum gives 0.
func direction(honest [][]float32) []float64 {
	s := make([]float64, len(honest[0]))
	for j := range s {
		var sum float64
		for _, u := range honest {
			sum += float64(u[j])
		}
		switch {
		case sum > 0:
			s[j] = 1
		case sum < 0:
			s[j] = -1
		}
	}
	return s
}

// fangTrimB is b of Fang et al.'s trimmed-mean attack.
const fangTrimB = 2

// fangTrim crafts c updates against trimmed mean and median: Fang et al.
// 2020, Section 4, full knowledge. With s_j the benign direction and
// w_max,j, w_min,j the benign extremes of coordinate j, each crafted value
// is drawn uniformly from
//
//	s_j < 0:  [w_max,j, b*w_max,j] if w_max,j > 0, else [w_max,j, w_max,j/b]
//	s_j >= 0: [w_min,j/b, w_min,j] if w_min,j > 0, else [b*w_min,j, w_min,j]
//
// so that every crafted value pulls coordinate j against s_j from beyond
// the benign values. Draws are attacker by attacker, coordinate by
// coordinate: value = lo + u*(hi-lo), u = rng.Float64().
func fangTrim(honest [][]float32, c int, b float64, rng *rand.Rand) [][]float32 {
	d := len(honest[0])
	s := direction(honest)
	lo, hi := make([]float64, d), make([]float64, d)
	for j := range d {
		mx, mn := math.Inf(-1), math.Inf(1)
		for _, u := range honest {
			mx, mn = max(mx, float64(u[j])), min(mn, float64(u[j]))
		}
		switch {
		case s[j] < 0 && mx > 0:
			lo[j], hi[j] = mx, b*mx
		case s[j] < 0:
			lo[j], hi[j] = mx, mx/b
		case mn > 0:
			lo[j], hi[j] = mn/b, mn
		default:
			lo[j], hi[j] = b*mn, mn
		}
	}
	out := make([][]float32, c)
	for k := range out {
		out[k] = make([]float32, d)
		for j := range d {
			out[k][j] = float32(lo[j] + rng.Float64()*(hi[j]-lo[j]))
		}
	}
	return out
}

// fangTrimPartial crafts c updates against trimmed mean and median from
// the attackers' own honest updates est: Fang et al. 2020, Section 4,
// partial knowledge. With mu_j and sigma_j the mean and standard
// deviation of coordinate j over est and s_j its direction, each crafted
// value is drawn uniformly from [mu_j+3sigma_j, mu_j+4sigma_j] when s_j < 0,
// else from [mu_j-4sigma_j, mu_j-3sigma_j], attacker by attacker, coordinate
// by coordinate.
func fangTrimPartial(est [][]float32, c int, rng *rand.Rand) [][]float32 {
	d := len(est[0])
	s := direction(est)
	lo, hi := make([]float64, d), make([]float64, d)
	for j := range d {
		var sum, sq float64
		for _, u := range est {
			sum += float64(u[j])
		}
		mu := sum / float64(len(est))
		for _, u := range est {
			sq += (float64(u[j]) - mu) * (float64(u[j]) - mu)
		}
		sigma := math.Sqrt(sq / float64(len(est)))
		if s[j] < 0 {
			lo[j], hi[j] = mu+3*sigma, mu+4*sigma
		} else {
			lo[j], hi[j] = mu-4*sigma, mu-3*sigma
		}
	}
	out := make([][]float32, c)
	for k := range out {
		out[k] = make([]float32, d)
		for j := range d {
			out[k][j] = float32(lo[j] + rng.Float64()*(hi[j]-lo[j]))
		}
	}
	return out
}

// Fang et al.'s Krum attack: the binary search on lambda stops below
// fangKrumLambdaMin, and the other attackers are within fangKrumEps of the
// first crafted update.
const (
	fangKrumLambdaMin = 1e-5
	fangKrumEps       = 1e-3
)

// fangKrum crafts c updates against Krum with f assumed Byzantine: Fang et
// al. 2020, Section 4, full knowledge. The updates are deltas, so the
// global model w_Re is the origin. With m = h+c updates (h honest), d
// parameters and s the benign direction, the first crafted update is
// -lambda*s, lambda starting at the paper's upper bound
//
//	1/((m-2c-1)*sqrt(d)) * min_i sum_{l in G_i} ||w_l - w_i|| + 1/sqrt(d) * max_i ||w_i||
//
// (i over the honest updates, G_i the m-c-2 honest updates nearest to w_i)
// and halved until Krum, run on the honest and crafted updates, selects a
// crafted one or lambda falls below fangKrumLambdaMin. The other c-1
// crafted updates add to the first one a fixed offset per coordinate drawn
// uniformly from [-eps/sqrt(d), eps/sqrt(d)], so each is within eps of it.
// It returns the crafted updates and lambda.
//
// With partial knowledge (Fang et al., Section 4) honest holds only the
// attackers' own honest updates, standing for the benign ones, and m is
// the round's real size: the bound's neighbour sums are taken over the h-1
// estimates there are and scaled up to m-c-2 neighbours, and the search
// asks which update Krum would select in the real round with the estimates
// standing for the benign updates (krumEstimateSelect).
func fangKrum(honest [][]float32, c, f int, eps float64, rng *rand.Rand) ([][]float32, float64, error) {
	return fangKrumM(honest, c, f, len(honest)+c, eps, rng)
}

func fangKrumM(honest [][]float32, c, f, m int, eps float64, rng *rand.Rand) ([][]float32, float64, error) {
	h, d := len(honest), len(honest[0])
	if h < 3 || m-2*c-1 < 1 || m-f-2 < 1 {
		return nil, 0, fmt.Errorf("sims: fang-krum: %d honest updates, %d crafted, f = %d: Krum or the attack's bound is undefined", h, c, f)
	}
	s := direction(honest)
	rootD := math.Sqrt(float64(d))
	dist := aggregate.PairwiseSquaredDistances(honest)
	minSum, maxNorm := math.Inf(1), 0.0
	for i := range h {
		others := make([]float64, 0, h-1)
		for l := range h {
			if l != i {
				others = append(others, math.Sqrt(dist[i][l]))
			}
		}
		slices.Sort(others)
		var sum float64
		k := min(m-c-2, h-1)
		for _, v := range others[:k] {
			sum += v
		}
		// With partial knowledge there are fewer estimates than the
		// bound's m-c-2 neighbours: scale their sum up to that many, as
		// the benign neighbours' sum the attackers cannot see.
		sum *= float64(m-c-2) / float64(k)
		minSum = min(minSum, sum)
		maxNorm = max(maxNorm, aggregate.Norm(honest[i]))
	}
	lambda := minSum/(float64(m-2*c-1)*rootD) + maxNorm/rootD
	offsets := make([][]float64, c)
	for k := 1; k < c; k++ {
		offsets[k] = make([]float64, d)
		for j := range d {
			offsets[k][j] = (2*rng.Float64() - 1) * eps / rootD
		}
	}
	craft := func(lambda float64) [][]float32 {
		out := make([][]float32, c)
		for k := range out {
			out[k] = make([]float32, d)
			for j := range d {
				v := -lambda * s[j]
				if k > 0 {
					v += offsets[k][j]
				}
				out[k][j] = float32(v)
			}
		}
		return out
	}
	selectsCrafted := func(lambda float64) bool {
		all := append(slices.Clone(honest), craft(lambda)...)
		if h+c == m {
			fs := min(f, (m-3)/2) // Krum over m updates needs m >= 2f+3
			return aggregate.KrumSelect(all, fs, 1)[0] >= h
		}
		return krumEstimateSelect(all, h, m, f) >= h
	}
	for ; lambda >= fangKrumLambdaMin; lambda /= 2 {
		if selectsCrafted(lambda) {
			break
		}
	}
	return craft(lambda), lambda, nil
}

// krumEstimateSelect reports the update Krum with f Byzantine would select
// in a round of m updates of which the first h of all are estimates standing
// for the round's m-(len(all)-h) benign ones and the rest are the crafted
// ones: the partial-knowledge attack's view of the round. Each point's score
// is the sum of the squared distances to its m-f-2 nearest others, where an
// estimate counts as the several benign updates it stands for (m-c-1 over
// the h-1 other estimates, m-c over all h for a crafted point, c =
// len(all)-h). Without the weights, Krum over the few estimates and the
// crafted cluster would pick the cluster at any lambda, and the crafted
// updates would lose the real round.
func krumEstimateSelect(all [][]float32, h, m, f int) int {
	c := len(all) - h
	dist := aggregate.PairwiseSquaredDistances(all)
	k := float64(m - f - 2)
	type near struct{ d, w float64 }
	best, bestScore := 0, math.Inf(1)
	for i := range all {
		w := float64(m-c) / float64(h)
		if i < h {
			w = float64(m-c-1) / float64(h-1)
		}
		others := make([]near, 0, len(all)-1)
		for l := range all {
			switch {
			case l == i:
			case l < h:
				others = append(others, near{dist[i][l], w})
			default:
				others = append(others, near{dist[i][l], 1})
			}
		}
		slices.SortFunc(others, func(a, b near) int { return cmp.Compare(a.d, b.d) })
		var score, used float64
		for _, o := range others {
			take := min(o.w, k-used)
			if take <= 0 {
				break
			}
			score += take * o.d
			used += take
		}
		if score < bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// lieZ reports z_max of "A Little Is Enough" (Baruch et al. 2019,
// Section 4) for n workers of which m are attackers: s = floor(n/2+1) - m
// workers must be won over, and z_max = Phi^-1((n-s)/n), Phi the standard
// normal CDF.
func lieZ(n, m int) (float64, error) {
	s := (n/2 + 1) - m
	if s < 1 || s >= n {
		return 0, fmt.Errorf("sims: lie: %d attackers of %d workers leave %d to win over", m, n, s)
	}
	return math.Sqrt2 * math.Erfinv(2*float64(n-s)/float64(n)-1), nil
}

// lie crafts the "A Little Is Enough" update for n workers of which m are
// attackers: mu_j + z_max*sigma_j per coordinate, mu and sigma the mean and
// (population) standard deviation of the honest updates. Every attacker
// sends it.
func lie(honest [][]float32, n, m int) ([]float32, error) {
	z, err := lieZ(n, m)
	if err != nil {
		return nil, err
	}
	h := float64(len(honest))
	out := make([]float32, len(honest[0]))
	for j := range out {
		var sum float64
		for _, u := range honest {
			sum += float64(u[j])
		}
		mu := sum / h
		var ss float64
		for _, u := range honest {
			ss += (float64(u[j]) - mu) * (float64(u[j]) - mu)
		}
		out[j] = float32(mu + z*math.Sqrt(ss/h))
	}
	return out, nil
}

// Attacker sets (Options.AttackerSet).
const (
	// AttackersFirst: participants 0..K-1 attack. With a partition that
	// groups participants by label (fang, shards) they hold few labels.
	AttackersFirst = "first"
	// AttackersSpread: participants floor(j*n/K), j = 0..K-1, attack: one
	// every n/K, across every group of a grouped partition.
	AttackersSpread = "spread"
)

// attackerOf reports whether participant i attacks, and its number among
// the attackers (0..K-1).
func (o *Options) attackerOf(i int) (int, bool) {
	c, n := o.Attackers, o.Participants
	if c <= 0 || i < 0 || i >= n {
		return 0, false
	}
	if o.AttackerSet != AttackersSpread {
		return i, i < c
	}
	// i attacks when it is floor(j*n/c) for some j: the j with
	// j*n <= i*c < (j+1)*n, if floor(j*n/c) == i.
	j := i * c / n
	if j*n/c == i {
		return j, true
	}
	if j+1 < c && (j+1)*n/c == i {
		return j + 1, true
	}
	return 0, false
}

// peerIDFor reports the peer ID of participant i of a run with seed.
func peerIDFor(seed uint64, i int) string {
	id, err := peer.IDFromPrivateKey(keyFor(seed, "participant-"+strconv.Itoa(i)))
	if err != nil {
		panic(err) // an Ed25519 key always has an ID
	}
	return id.String()
}

// attackRand returns a generator fixed by seed, attack, round and who.
func attackRand(seed uint64, attack string, round uint64, who string) *rand.Rand {
	h := sha256.Sum256([]byte("floe/sim-attack/v1\x00" + strconv.FormatUint(seed, 10) + "\x00" + attack + "\x00" + strconv.FormatUint(round, 10) + "\x00" + who))
	return rand.New(rand.NewPCG(binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:16])))
}

// arm makes participant i, attacker number k, an attacker: it sets cfg's
// Tamper, and its Data or Trainer where the attack needs them.
//
// Full-knowledge attackers see the round's honest updates as in the papers,
// without waiting for them: training is deterministic (the same global
// model, data and TrainConfig give the same bits), so the attackers'
// adversary retrains each honest participant's update of the round itself,
// from the global model the attacker received and the TrainConfig the
// honest participant gets (the attacker's, with the honest participant's
// TrainSeed). An honest participant that drops out of the round (the seeded
// Dropout) is left out. With a cohort smaller than the federation the
// attackers see every honest participant's update, a superset of the
// round's. A seeded run stays reproducible: the crafted updates come from
// the seed and the round alone.
func (s *sim) arm(k int, cfg *participant.Config) {
	self := cfg.Host.ID().String()
	switch s.o.Attack {
	case AttackSignFlip, "":
		cfg.Tamper = func(_ uint64, d []float32) { signFlip(d) }
	case AttackGaussian:
		cfg.Tamper = func(r uint64, d []float32) { gaussianUpdate(d, attackRand(s.o.Seed, s.o.Attack, r, self)) }
	case AttackLabelFlip:
		cfg.Data = flipLabels(cfg.Data)
	case AttackFangTrim, AttackFangKrum, AttackLIE, AttackFangTrimPartial, AttackFangKrumPartial:
		if s.adv == nil {
			s.adv = &adversary{s: s, trainer: cfg.Trainer, rounds: map[uint64]*craftedRound{}}
			if s.adv.trainer == nil {
				s.adv.trainer = model.NewLocalTrainer(s.arch)
			}
		}
		a := &attacker{adv: s.adv, k: k, self: self, Trainer: s.adv.trainer}
		cfg.Trainer, cfg.Tamper = a, a.tamper
	}
}

// adversary is what a run's full-knowledge attackers share: each round's
// crafted updates, made once from the round's honest updates.
type adversary struct {
	s       *sim
	trainer model.Trainer // the honest participants' trainer

	mu     sync.Mutex // guards the following
	rounds map[uint64]*craftedRound
}

// craftedRound is one round's crafted updates, one per attacker.
type craftedRound struct {
	once    sync.Once
	updates [][]float32
	err     error
}

// crafted returns attacker k's update of round r, crafting the round's
// updates on the first call: global and cfg are what attacker k's
// participant trained with.
func (a *adversary) crafted(ctx context.Context, r uint64, k int, global *model.Params, cfg model.TrainConfig) ([]float32, error) {
	a.mu.Lock()
	cr := a.rounds[r]
	if cr == nil {
		cr = &craftedRound{}
		a.rounds[r] = cr
	}
	for old := range a.rounds {
		if old+1 < r { // every attacker is done with it
			delete(a.rounds, old)
		}
	}
	a.mu.Unlock()
	cr.once.Do(func() { cr.updates, cr.err = a.craft(ctx, r, global, cfg) })
	if cr.err != nil {
		return nil, cr.err
	}
	return cr.updates[k], nil
}

// craft retrains the honest updates of round r and crafts the attackers'.
func (a *adversary) craft(ctx context.Context, r uint64, global *model.Params, cfg model.TrainConfig) ([][]float32, error) {
	o := a.s.o
	var honest [][]float32
	for i := range o.Participants {
		// With partial knowledge the attackers know only their own data:
		// their honest updates stand for the benign ones. Otherwise they
		// see every honest participant's.
		if _, attacks := o.attackerOf(i); attacks != partialKnowledge(o.Attack) {
			continue
		}
		id := peerIDFor(o.Seed, i)
		if dropout(o.Seed, id, r) < o.Dropout || (a.s.plan != nil && phaseOrder(a.s.plan.dropPhase(id, r)) == 0) {
			continue // it skips the round (the dropout shorthand, or a dropout fault before submitting)
		}
		c := cfg
		c.Seed = participant.TrainSeed(o.Seed, r, id)
		res, err := a.trainer.Train(ctx, global, a.s.data[i], c)
		if err != nil {
			return nil, fmt.Errorf("sims: %s: honest update of participant %d: %w", o.Attack, i, err)
		}
		d, err := res.Delta(global)
		if err != nil {
			return nil, err
		}
		honest = append(honest, d)
	}
	if len(honest) < 2 {
		return nil, fmt.Errorf("sims: %s: round %d has %d honest updates", o.Attack, r, len(honest))
	}
	c := o.Attackers
	rng := attackRand(o.Seed, o.Attack, r, "")
	switch o.Attack {
	case AttackFangTrim:
		return fangTrim(honest, c, fangTrimB, rng), nil
	case AttackFangTrimPartial:
		return fangTrimPartial(honest, c, rng), nil
	case AttackFangKrum, AttackFangKrumPartial:
		f := c
		if o.Rule.Rule == "krum" || o.Rule.Rule == "multikrum" {
			f = int(o.Rule.Params["f"])
		}
		m := len(honest) + c
		if o.Attack == AttackFangKrumPartial {
			m = min(o.Cohort, o.Participants)
		}
		out, _, err := fangKrumM(honest, c, f, m, fangKrumEps, rng)
		return out, err
	case AttackLIE:
		u, err := lie(honest, len(honest)+c, c)
		if err != nil {
			return nil, err
		}
		out := make([][]float32, c)
		for k := range out {
			out[k] = u
		}
		return out, nil
	}
	panic("sims: no full-knowledge attack " + o.Attack)
}

// attacker is a full-knowledge attacker's trainer and Tamper hook. The
// participant calls both from its one goroutine, Train then Tamper for each
// round, so Train leaves what Tamper reads without a lock.
type attacker struct {
	model.Trainer
	adv  *adversary
	k    int
	self string

	global *model.Params     // the last round's global model
	cfg    model.TrainConfig // the last round's training configuration
}

func (a *attacker) Train(ctx context.Context, global *model.Params, data *model.Dataset, cfg model.TrainConfig) (*model.Result, error) {
	a.global, a.cfg = global, cfg
	return a.Trainer.Train(ctx, global, data, cfg)
}

// tamper replaces the attacker's update of round r with its crafted one. A
// failure to craft it ends the run (through s.errs).
func (a *attacker) tamper(r uint64, d []float32) {
	s := a.adv.s
	err := error(nil)
	if want := participant.TrainSeed(s.o.Seed, r, a.self); a.cfg.Seed != want {
		err = fmt.Errorf("sims: %s: round %d trained with seed %d, want %d", s.o.Attack, r, a.cfg.Seed, want)
	}
	var u []float32
	if err == nil {
		u, err = a.adv.crafted(s.parts.ctx, r, a.k, a.global, a.cfg)
	}
	if err != nil {
		s.o.Logger.Error("attack not crafted", "round", r, "err", err)
		select {
		case s.errs <- err:
		default:
		}
		return
	}
	copy(d, u)
}
