package sims

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/floe-fl/floe/coordinator"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/round"
)

// Fault kinds (Fault.Kind). A scenario's faults list holds any number of
// them; the old keys are shorthands: dropout P is a dropout before_submit
// with its own (older) draw, crashes N are N crashes at seeded rounds and
// points, dead_nodes K is a kill_nodes of K after a third of the rounds.
const (
	// FaultDropout: each cohort member leaves a round with probability P,
	// at Phase.
	FaultDropout = "dropout"
	// FaultStraggler: with probability P a member's submission arrives
	// after a simulated delay drawn from Latency; one at or past the
	// round's deadline is late.
	FaultStraggler = "straggler"
	// FaultKillNodes: Count storage nodes (the highest-numbered still
	// alive) die for good as round Round opens. More than f of them make
	// the run stop with a *NodesLostError naming the blob it cannot read
	// or store.
	FaultKillNodes = "kill_nodes"
	// FaultWipeNode: storage node Node loses its data as round Round
	// opens and restarts empty; with Repair it then rebuilds its slivers
	// from the others (p2p.Node.Repair).
	FaultWipeNode = "wipe_node"
	// FaultCorruptNode: from round Round on, storage node Node serves
	// corrupted slivers: as each round opens, and before the final audit,
	// every sliver it holds gets a flipped byte (its header stays valid),
	// so readers must detect it and read around it.
	FaultCorruptNode = "corrupt_node"
	// FaultCrash: the coordinator crashes in round Round at Point (closed
	// or stored, see crash.go) and restarts from its data directory.
	FaultCrash = "crash"
	// FaultLoss: each round-protocol message of a participant (register,
	// task poll, and outside secagg its submission), and separately its
	// answer, is lost with probability P: the participant sees a broken
	// stream and retries.
	FaultLoss = "loss"
	// FaultDelay: with probability P a participant's links are slow: every
	// message on them waits a latency drawn once from Latency (at most
	// maxLinkLatency of wall time; the in-memory network's own latency).
	FaultDelay = "delay"
	// FaultDuplicate: with probability P a participant's registration or
	// (outside secagg) submission is delivered twice; the copy's answer is
	// dropped.
	FaultDuplicate = "duplicate"
	// FaultPartition: Peers (participant-I, node-I) are cut off from
	// everyone else from round FromRound until round HealRound opens.
	FaultPartition = "partition"
)

// Dropout phases (Fault.Phase). before_submit and after_submit apply to
// every privacy mode (in secagg they are before_keys and after_masked);
// the other four are the secure-aggregation steps.
const (
	PhaseBeforeSubmit = "before_submit" // skip the round
	PhaseAfterSubmit  = "after_submit"  // hand the update in, then vanish before the answer
	PhaseBeforeKeys   = "before_keys"   // secagg: skip the round
	PhaseAfterShares  = "after_shares"  // secagg: keys and shares sent, no masked input
	PhaseAfterMasked  = "after_masked"  // secagg: masked input sent, no survivor signature
	PhaseBeforeReveal = "before_reveal" // secagg: survivor signature sent, no reveal
)

// maxLinkLatency bounds a delay fault's latency: it is wall time on the
// in-memory network.
const maxLinkLatency = time.Second

// faultFields lists the fields each kind takes (besides kind).
var faultFields = map[string][]string{
	FaultDropout:     {"p", "phase"},
	FaultStraggler:   {"p", "latency"},
	FaultKillNodes:   {"count", "round"},
	FaultWipeNode:    {"node", "round", "repair"},
	FaultCorruptNode: {"node", "round"},
	FaultCrash:       {"round", "point"},
	FaultLoss:        {"p"},
	FaultDelay:       {"p", "latency"},
	FaultDuplicate:   {"p"},
	FaultPartition:   {"peers", "from_round", "heal_round"},
}

// FaultKinds lists the fault kinds.
func FaultKinds() []string { return slices.Sorted(maps.Keys(faultFields)) }

// Fault is one entry of a scenario's faults list: its kind and its
// schedule. Which fields a kind takes is in faultFields (and the README);
// the others must be left zero. Everything random about it is drawn from
// the run's seed.
type Fault struct {
	Kind      string   `yaml:"kind" json:"kind"`
	P         float64  `yaml:"p,omitempty" json:"p,omitempty"`
	Phase     string   `yaml:"phase,omitempty" json:"phase,omitempty"`
	Latency   string   `yaml:"latency,omitempty" json:"latency,omitempty"` // a distribution: "5s", "exp:5s", "uniform:1s,10s"
	Count     int      `yaml:"count,omitempty" json:"count,omitempty"`
	Round     int      `yaml:"round,omitempty" json:"round,omitempty"`
	Node      int      `yaml:"node,omitempty" json:"node,omitempty"`
	Repair    bool     `yaml:"repair,omitempty" json:"repair,omitempty"`
	Point     string   `yaml:"point,omitempty" json:"point,omitempty"`
	Peers     []string `yaml:"peers,omitempty" json:"peers,omitempty"` // participant-I or node-I
	FromRound int      `yaml:"from_round,omitempty" json:"from_round,omitempty"`
	HealRound int      `yaml:"heal_round,omitempty" json:"heal_round,omitempty"`
}

// setFields names the fields of f that are not zero.
func (f Fault) setFields() []string {
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	add(f.P != 0, "p")
	add(f.Phase != "", "phase")
	add(f.Latency != "", "latency")
	add(f.Count != 0, "count")
	add(f.Round != 0, "round")
	add(f.Node != 0, "node")
	add(f.Repair, "repair")
	add(f.Point != "", "point")
	add(len(f.Peers) > 0, "peers")
	add(f.FromRound != 0, "from_round")
	add(f.HealRound != 0, "heal_round")
	return out
}

// checkFaultKeys checks the keys of a scenario's raw faults list (as
// parsed into untyped YAML): each entry needs a known kind and only the
// fields its kind takes. Values are checked by Options.Validate.
func checkFaultKeys(raw any) error {
	list, ok := raw.([]any)
	if !ok {
		return nil // absent or not a list: the typed decoding reports it
	}
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return fmt.Errorf("faults[%d]: want a map such as {kind: dropout, p: 0.1}, got %v", i, e)
		}
		kind, ok := m["kind"].(string)
		if !ok {
			return fmt.Errorf("faults[%d]: kind is required (one of %s)", i, strings.Join(FaultKinds(), ", "))
		}
		allowed, ok := faultFields[kind]
		if !ok {
			return fmt.Errorf("faults[%d]: unknown fault kind %q (want one of %s)", i, kind, strings.Join(FaultKinds(), ", "))
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if k != "kind" && !slices.Contains(allowed, k) {
				return fmt.Errorf("faults[%d] (%s): unknown field %q (%s takes %s)", i, kind, k, kind, strings.Join(allowed, ", "))
			}
			if want := faultFieldType(k, m[k]); want != "" {
				return fmt.Errorf("faults[%d] (%s): %s: want %s, got %v", i, kind, k, want, m[k])
			}
		}
	}
	return nil
}

// faultFieldType returns what field k of a fault must be when v is not
// that ("" when it is): YAML decoding would turn 1.5 into a count of 1.
func faultFieldType(k string, v any) string {
	switch k {
	case "count", "round", "node", "from_round", "heal_round":
		switch n := v.(type) {
		case uint64:
			return ""
		case int64:
			if n >= 0 {
				return ""
			}
		}
		return "an integer >= 0"
	case "p":
		switch v.(type) {
		case float64, uint64, int64:
			return ""
		}
		return "a number"
	case "repair":
		if _, ok := v.(bool); ok {
			return ""
		}
		return "true or false"
	case "peers":
		l, ok := v.([]any)
		for _, e := range l {
			if _, isStr := e.(string); !isStr {
				ok = false
			}
		}
		if ok {
			return ""
		}
		return "a list such as [participant-0, node-1]"
	}
	if _, ok := v.(string); ok {
		return ""
	}
	return "a string"
}

// dist is a latency distribution: a constant, an exponential of a mean,
// or uniform between two durations.
type dist struct {
	kind string // "const", "exp" or "uniform"
	a, b time.Duration
}

// parseDist reads "D" or "const:D", "exp:MEAN", "uniform:LO,HI" (Go
// durations, positive; LO <= HI).
func parseDist(s string) (dist, error) {
	kind, arg, ok := strings.Cut(s, ":")
	if !ok {
		kind, arg = "const", s
	}
	bad := func() (dist, error) {
		return dist{}, fmt.Errorf("latency %q: want a duration (5s), const:D, exp:MEAN or uniform:LO,HI", s)
	}
	dur := func(v string) (time.Duration, bool) {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		return d, err == nil && d > 0
	}
	switch kind {
	case "const", "exp":
		d, ok := dur(arg)
		if !ok {
			return bad()
		}
		return dist{kind: kind, a: d}, nil
	case "uniform":
		lo, hi, ok := strings.Cut(arg, ",")
		a, ok1 := dur(lo)
		b, ok2 := dur(hi)
		if !ok || !ok1 || !ok2 || a > b {
			return bad()
		}
		return dist{kind: kind, a: a, b: b}, nil
	}
	return bad()
}

// draw returns one latency from d.
func (d dist) draw(r *rand.Rand) time.Duration {
	switch d.kind {
	case "exp":
		return time.Duration(r.ExpFloat64() * float64(d.a))
	case "uniform":
		return d.a + time.Duration(r.Float64()*float64(d.b-d.a))
	}
	return d.a
}

// mean returns d's mean.
func (d dist) mean() time.Duration {
	if d.kind == "uniform" {
		return (d.a + d.b) / 2
	}
	return d.a
}

// faultRand returns a generator fixed by the seed, the fault's index in
// the list, who it strikes, the round and what it decides.
func faultRand(seed uint64, idx int, who string, round uint64, what string) *rand.Rand {
	h := sha256.Sum256([]byte("floe/sim-fault/v1\x00" + strconv.FormatUint(seed, 10) + "\x00" + strconv.Itoa(idx) + "\x00" + who + "\x00" + strconv.FormatUint(round, 10) + "\x00" + what))
	return rand.New(rand.NewPCG(binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:16])))
}

// phaseOrder orders dropout phases along a round: a member that draws
// several drops out at the first.
func phaseOrder(phase string) int {
	switch phase {
	case PhaseBeforeSubmit, PhaseBeforeKeys:
		return 0
	case PhaseAfterShares:
		return 1
	case PhaseAfterSubmit, PhaseAfterMasked:
		return 2
	case PhaseBeforeReveal:
		return 3
	}
	return -1
}

// hasFaults reports whether o injects any fault (attacks are not faults).
func (o *Options) hasFaults() bool {
	return o.Dropout > 0 || o.Crashes > 0 || o.DeadNodes > 0 || len(o.Faults) > 0
}

// killAt is the round before which the dead_nodes shorthand kills its
// nodes: after a third of the rounds.
func (o *Options) killAt() int { return max(1, o.Rounds/3) + 1 }

// validateFaults reports the first bad entry of o.Faults, or a schedule
// that cannot run (two crashes in a round, a dead node wiped, ...).
func (o *Options) validateFaults() error {
	walrus := o.Store == ledger.StoreWalrus
	crashRounds := map[int]bool{}
	type span struct{ from, heal, i int }
	var parts []span
	for i, f := range o.Faults {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("sims: faults[%d] (%s): %s", i, f.Kind, fmt.Sprintf(format, args...))
		}
		allowed, ok := faultFields[f.Kind]
		if !ok {
			return fmt.Errorf("sims: faults[%d]: unknown fault kind %q (want one of %s)", i, f.Kind, strings.Join(FaultKinds(), ", "))
		}
		for _, k := range f.setFields() {
			if !slices.Contains(allowed, k) {
				return bad("field %s does not apply (%s takes %s)", k, f.Kind, strings.Join(allowed, ", "))
			}
		}
		nodeRound := func() error {
			switch {
			case walrus:
				return bad("needs floe's storage nodes; store walrus has none")
			case f.Round < 1 || f.Round > o.Rounds+1:
				return bad("round must be in [1, %d] (rounds+1: after the last round, before the audit), got %d", o.Rounds+1, f.Round)
			}
			return nil
		}
		nodeIndex := func() error {
			if f.Node < 0 || f.Node >= o.Nodes {
				return bad("node must be in [0, %d], got %d", o.Nodes-1, f.Node)
			}
			return nil
		}
		prob := func(max float64, open bool) error {
			if !(f.P > 0 && (f.P < max || (!open && f.P == max))) {
				r := "]"
				if open {
					r = ")"
				}
				return bad("p must be in (0, %g%s, got %g", max, r, f.P)
			}
			return nil
		}
		memory := func() error {
			if o.Net != "memory" {
				return bad("needs --net memory (the in-memory network)")
			}
			return nil
		}
		var err error
		switch f.Kind {
		case FaultDropout:
			err = prob(1, true)
			if err == nil {
				switch phase := f.Phase; {
				case phaseOrder(phase) < 0 && phase != "":
					err = bad("unknown phase %q (want before_submit, after_submit; with privacy secagg also before_keys, after_shares, after_masked, before_reveal)", phase)
				case o.Privacy != ledger.PrivacySecAgg && phase != "" && phase != PhaseBeforeSubmit && phase != PhaseAfterSubmit:
					err = bad("phase %s is a secure-aggregation step: it needs privacy secagg", phase)
				}
			}
		case FaultStraggler:
			if err = prob(1, false); err == nil {
				_, err = parseDist(f.Latency)
				if err != nil {
					err = bad("%v", err)
				}
			}
		case FaultDelay:
			if err = memory(); err == nil {
				if err = prob(1, false); err == nil {
					var d dist
					if d, err = parseDist(f.Latency); err != nil {
						err = bad("%v", err)
					} else if d.mean() > maxLinkLatency/2 || (d.kind != "exp" && max(d.a, d.b) > maxLinkLatency) {
						err = bad("latency %s is wall time on the in-memory network: keep it under %v", f.Latency, maxLinkLatency)
					}
				}
			}
		case FaultLoss, FaultDuplicate:
			if err = memory(); err == nil {
				err = prob(1, true)
			}
		case FaultKillNodes:
			if err = nodeRound(); err == nil && (f.Count < 1 || f.Count > o.Nodes) {
				err = bad("count must be in [1, %d] (the storage nodes; more than f = %d stops the run), got %d", o.Nodes, max((o.Nodes-1)/3, 0), f.Count)
			}
		case FaultWipeNode, FaultCorruptNode:
			if err = nodeRound(); err == nil {
				err = nodeIndex()
			}
		case FaultCrash:
			switch {
			case f.Round < 1 || f.Round > o.Rounds:
				err = bad("round must be in [1, %d], got %d", o.Rounds, f.Round)
			case f.Point != crashClosed && f.Point != crashStored:
				err = bad("point must be %s or %s, got %q", crashClosed, crashStored, f.Point)
			case crashRounds[f.Round]:
				err = bad("round %d already has a crash", f.Round)
			}
			crashRounds[f.Round] = true
		case FaultPartition:
			if err = memory(); err != nil {
				break
			}
			switch {
			case len(f.Peers) == 0:
				err = bad("peers must name participant-I or node-I")
			case f.FromRound < 2 || f.FromRound > o.Rounds:
				err = bad("from_round must be in [2, %d] (everyone registers in round 1), got %d", o.Rounds, f.FromRound)
			case f.HealRound <= f.FromRound || f.HealRound > o.Rounds+1:
				err = bad("heal_round must be in [from_round+1, %d], got %d", o.Rounds+1, f.HealRound)
			}
			seen := map[string]bool{}
			for _, p := range f.Peers {
				if err != nil {
					break
				}
				kind, idx, ierr := parsePeer(p)
				switch {
				case ierr != nil:
					err = bad("%v", ierr)
				case kind == "node" && (walrus || idx >= o.Nodes):
					err = bad("peer %s: no such storage node (%d nodes)", p, o.Nodes)
				case kind == "participant" && idx >= o.Participants:
					err = bad("peer %s: no such participant (%d participants)", p, o.Participants)
				case seen[p]:
					err = bad("peer %s named twice", p)
				}
				seen[p] = true
			}
			for _, q := range parts {
				if err == nil && f.FromRound < q.heal && q.from < f.HealRound {
					err = bad("overlaps the partition faults[%d]", q.i)
				}
			}
			parts = append(parts, span{f.FromRound, f.HealRound, i})
		}
		if err != nil {
			return err
		}
	}
	if o.Crashes+len(crashRounds) > o.Rounds {
		return fmt.Errorf("sims: %d seeded crashes and %d crash faults need more rounds than %d (one crash a round)", o.Crashes, len(crashRounds), o.Rounds)
	}
	if !walrus {
		if _, err := nodeSchedule(o); err != nil {
			return err
		}
	}
	return nil
}

// parsePeer reads participant-I or node-I.
func parsePeer(p string) (string, int, error) {
	kind, idx, ok := strings.Cut(p, "-")
	i, err := strconv.Atoi(idx)
	if !ok || err != nil || i < 0 || (kind != "participant" && kind != "node") {
		return "", 0, fmt.Errorf("peer %q: want participant-I or node-I (the coordinator cannot be cut off)", p)
	}
	return kind, i, nil
}

// nodeAct is what happens to the storage nodes as a round opens.
type nodeAct struct {
	fault   int // index in o.Faults; -1: the dead_nodes shorthand
	kind    string
	count   int   // kill_nodes
	node    int   // wipe_node, corrupt_node
	repair  bool  // wipe_node
	killed  []int // kill_nodes: which, decided by nodeSchedule
	peers   []string
	healing bool // partition: heal (else start)
}

// nodeSchedule returns the node faults by round, in the order they
// strike, with the nodes each kill takes (the highest-numbered still
// alive), and reports a wipe, corruption or partition of a node already
// dead.
func nodeSchedule(o *Options) (map[int][]nodeAct, error) {
	acts := map[int][]nodeAct{}
	if o.DeadNodes > 0 {
		acts[o.killAt()] = append(acts[o.killAt()], nodeAct{fault: -1, kind: FaultKillNodes, count: o.DeadNodes})
	}
	for i, f := range o.Faults {
		switch f.Kind {
		case FaultKillNodes, FaultWipeNode, FaultCorruptNode:
			acts[f.Round] = append(acts[f.Round], nodeAct{fault: i, kind: f.Kind, count: f.Count, node: f.Node, repair: f.Repair})
		case FaultPartition:
			acts[f.FromRound] = append(acts[f.FromRound], nodeAct{fault: i, kind: f.Kind, peers: f.Peers})
			acts[f.HealRound] = append(acts[f.HealRound], nodeAct{fault: i, kind: f.Kind, peers: f.Peers, healing: true})
		}
	}
	dead := map[int]int{} // node -> round it died
	rounds := make([]int, 0, len(acts))
	for r := range acts {
		rounds = append(rounds, r)
	}
	slices.Sort(rounds)
	for _, r := range rounds {
		for k := range acts[r] {
			a := &acts[r][k]
			name := "dead_nodes"
			if a.fault >= 0 {
				name = fmt.Sprintf("faults[%d] (%s)", a.fault, a.kind)
			}
			switch a.kind {
			case FaultKillNodes:
				for i := o.Nodes - 1; i >= 0 && len(a.killed) < a.count; i-- {
					if _, ok := dead[i]; !ok {
						dead[i] = r
						a.killed = append(a.killed, i)
					}
				}
				if len(a.killed) < a.count {
					return nil, fmt.Errorf("sims: %s: kills %d storage nodes in round %d, only %d are alive", name, a.count, r, len(a.killed))
				}
			case FaultWipeNode, FaultCorruptNode:
				if d, ok := dead[a.node]; ok {
					return nil, fmt.Errorf("sims: %s: storage node %d is dead from round %d", name, a.node, d)
				}
			case FaultPartition:
				for _, p := range a.peers {
					kind, i, _ := parsePeer(p)
					if d, ok := dead[i]; ok && kind == "node" && !a.healing {
						return nil, fmt.Errorf("sims: %s: storage node %d is dead from round %d", name, i, d)
					}
				}
			}
		}
	}
	return acts, nil
}

// faultPlan is o's faults as Run follows them.
type faultPlan struct {
	o        *Options
	nodes    map[int][]nodeAct // by the round they strike at the opening of
	dropouts []int             // indices in o.Faults, by kind
	stragglers,
	losses,
	dups,
	delays,
	partitions []int
	dists map[int]dist // latency distributions by index
}

// newFaultPlan builds o's plan. o must be valid.
func newFaultPlan(o *Options) *faultPlan {
	p := &faultPlan{o: o, dists: map[int]dist{}}
	if o.Store != ledger.StoreWalrus {
		p.nodes, _ = nodeSchedule(o)
	}
	byKind := map[string]*[]int{FaultDropout: &p.dropouts, FaultStraggler: &p.stragglers, FaultLoss: &p.losses,
		FaultDuplicate: &p.dups, FaultDelay: &p.delays, FaultPartition: &p.partitions}
	for i, f := range o.Faults {
		if l, ok := byKind[f.Kind]; ok {
			*l = append(*l, i)
		}
		if f.Latency != "" {
			p.dists[i], _ = parseDist(f.Latency)
		}
	}
	return p
}

// dropPhase returns where member self drops out of round r by the
// dropout faults ("" for nowhere): the earliest phase whose draw hits.
func (p *faultPlan) dropPhase(self string, r uint64) string {
	phase := ""
	for _, i := range p.dropouts {
		f := p.o.Faults[i]
		if faultRand(p.o.Seed, i, self, r, "dropout").Float64() >= f.P {
			continue
		}
		ph := f.Phase
		if ph == "" {
			ph = PhaseBeforeSubmit
		}
		if phase == "" || phaseOrder(ph) < phaseOrder(phase) {
			phase = ph
		}
	}
	return phase
}

// straggle returns the simulated delay of member self's submission in
// round r (the largest a straggler fault draws; 0: none).
func (p *faultPlan) straggle(self string, r uint64) time.Duration {
	var d time.Duration
	for _, i := range p.stragglers {
		g := faultRand(p.o.Seed, i, self, r, "straggler")
		if g.Float64() < p.o.Faults[i].P {
			d = max(d, p.dists[i].draw(g))
		}
	}
	return d
}

// linkLatency returns the latency of member self's links (0: none).
func (p *faultPlan) linkLatency(self string) time.Duration {
	var d time.Duration
	for _, i := range p.delays {
		g := faultRand(p.o.Seed, i, self, 0, "delay")
		if g.Float64() < p.o.Faults[i].P {
			d = max(d, min(p.dists[i].draw(g), maxLinkLatency))
		}
	}
	return d
}

// hit reports whether one of the faults at idxs strikes: what names the
// decision (a message and its attempt).
func (p *faultPlan) hit(idxs []int, self string, r uint64, what string) bool {
	for _, i := range idxs {
		if faultRand(p.o.Seed, i, self, r, what).Float64() < p.o.Faults[i].P {
			return true
		}
	}
	return false
}

// partitioned reports whether participant i is cut off in round r.
func (p *faultPlan) partitioned(i int, r uint64) bool {
	name := "participant-" + strconv.Itoa(i)
	for _, k := range p.partitions {
		f := p.o.Faults[k]
		if uint64(f.FromRound) <= r && r < uint64(f.HealRound) && slices.Contains(f.Peers, name) {
			return true
		}
	}
	return false
}

// partitionsParticipants reports whether a partition cuts off a participant.
func (p *faultPlan) partitionsParticipants() bool {
	for _, k := range p.partitions {
		for _, q := range p.o.Faults[k].Peers {
			if strings.HasPrefix(q, "participant-") {
				return true
			}
		}
	}
	return false
}

// commitStored runs when the coordinator has stored round c.Round's
// commitment and before it opens the next round: the secagg checker's
// reference of the round, the round's late stragglers delivered, then the
// faults of the next round. Once per round, whatever the crashes.
func (s *sim) commitStored(ctx context.Context, c *ledger.Commitment) {
	s.mu.Lock()
	if s.applied[c.Round] {
		s.mu.Unlock()
		return
	}
	s.applied[c.Round] = true
	s.round = c.Round + 1
	s.mu.Unlock()
	if s.o.Privacy == ledger.PrivacySecAgg {
		s.secaggReference(c)
	}
	s.release(ctx, c.Round)
	next := c.OutputModel
	if next == (ledger.BlobID{}) {
		next = c.InputModel
	}
	s.applyFaults(ctx, c.Round+1, next)
}

// holdLate registers a late submission of round r: it may leave once
// release closes, and done must be closed once it has been answered.
func (s *sim) holdLate(r uint64) (release <-chan struct{}, done chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	done = make(chan struct{})
	s.late[r] = append(s.late[r], done)
	return s.releaseCh(r), done
}

// releaseCh is the channel closed when round r's late submissions may
// leave. s.mu must be held.
func (s *sim) releaseCh(r uint64) chan struct{} {
	ch, ok := s.released[r]
	if !ok {
		ch = make(chan struct{})
		s.released[r] = ch
	}
	return ch
}

// release lets round r's late submissions go and waits until each has
// been answered: they reach the coordinator while it stores the round's
// commitment, at the same point of every replay.
func (s *sim) release(ctx context.Context, r uint64) {
	s.mu.Lock()
	close(s.releaseCh(r))
	held := s.late[r]
	delete(s.late, r)
	s.mu.Unlock()
	for _, done := range held {
		select {
		case <-done:
		case <-ctx.Done():
			return
		case <-s.parts.ctx.Done():
			return
		}
	}
}

// ack records that the coordinator answered ok to participant p's
// submission of blob in round r.
func (s *sim) ack(r uint64, p string, blob ledger.BlobID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acks[ackKey{r, p}] = blob
}

// ackKey names a submission: its round and participant.
type ackKey struct {
	round uint64
	peer  string
}

// capture keeps a secagg member's delta of round r as it encodes it, for
// the secagg checker (freed when the round is committed).
func (s *sim) capture(r uint64, p string, d []float32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.captured[r] == nil {
		s.captured[r] = map[string][]float32{}
	}
	s.captured[r][p] = slices.Clone(d)
}

// watchCohorts marks the members of each round's cohort that a partition
// cuts off as gone: they cannot take part, and the round must not wait
// for them. One runs per coordinator instance, in s.coord.
func (s *sim) watchCohorts(ctx context.Context, srv *coordinator.Server) {
	var after uint64
	for {
		var r uint64
		cohort, err := srv.WaitFor(ctx, func(got uint64, phase round.Phase) bool {
			if phase == round.PhaseCollecting && got > after {
				r = got
				return true
			}
			return false
		})
		if err != nil {
			return
		}
		after = r
		for i := range s.o.Participants {
			if id := s.partHosts[i].ID().String(); s.plan.partitioned(i, r) && slices.Contains(cohort, id) {
				s.leave(r, id)
			}
		}
	}
}
