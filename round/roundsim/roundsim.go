package roundsim

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/mem"
	"github.com/floe-fl/floe/clock"
	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/round"
)

// Config is the simulated job.
type Config struct {
	CohortSize, Quorum, MinParticipants, Rounds uint64
	DeadlineMillis                              uint64
	NormBound                                   string // decimal; "" for none
	Rule                                        string // aggregation rule: a name, or NAME(k=v,...); default fedavg
	Seed                                        uint64 // keys and initial model
	// Admission: names of the only participants that may register (none:
	// anyone), the cap on registrations and on claimed examples (0: the
	// defaults).
	AllowList                     []string
	MaxRegistrations, MaxExamples uint64
	// Store is the job's store: "" for floe's own committee (simulated by
	// blob/mem), ledger.StoreWalrus for Walrus, whose client is Walrus.
	Store  string
	Walrus blob.Store
	// SecAgg, when set, makes the job's privacy "secagg" with these
	// parameters (Bits is filled in); see secagg.go for the members' steps.
	SecAgg *ledger.SecAggParams
}

// Default returns a small job: cohort 3, quorum 2, 3 registrations, 2
// rounds, 30 s deadline, norm bound 10, FedAvg.
func Default() Config {
	return Config{CohortSize: 3, Quorum: 2, MinParticipants: 3, Rounds: 2, DeadlineMillis: 30000, NormBound: "10", Rule: "fedavg", Seed: 1}
}

// signer is an Ed25519 key as ledger.Signer.
type signer ed25519.PrivateKey

func (k signer) Sign(msg []byte) ([]byte, error) {
	return ed25519.Sign(ed25519.PrivateKey(k), msg), nil
}

// Sim is one simulated job. It is not safe for concurrent use.
type Sim struct {
	cfg     Config
	job     *ledger.SignedJob
	jobBlob ledger.BlobID
	coord   signer
	store   blob.Store
	clk     *clock.Fake
	m       *round.Machine
	journal [][]byte
	now     uint64
	global  *model.Params
	fold    *round.FoldTask
	commit  *ledger.Commitment
	last    *ledger.Commitment
	head    ledger.BlobID
	keys    map[string]signer
	names   map[string]string // peer ID -> name
	members map[string]*round.SAMember
	encoded map[string][]uint64
}

// New starts a simulated job.
func New(cfg Config) (*Sim, error) {
	if cfg.Rule == "" {
		cfg.Rule = "fedavg"
	}
	clk := clock.NewFake(time.Unix(0, 0)) // the store's clock, for lifetimes only
	var st blob.Store
	var committee []string
	switch cfg.Store {
	case "":
		m, err := mem.New(mem.WithSeed(cfg.Seed), mem.WithClock(clk))
		if err != nil {
			return nil, err
		}
		st, committee = m, m.Committee().Addrs()
	case ledger.StoreWalrus:
		if cfg.Walrus == nil {
			return nil, fmt.Errorf("roundsim: a walrus job needs Config.Walrus")
		}
		st = cfg.Walrus
	default:
		return nil, fmt.Errorf("roundsim: unknown store %q", cfg.Store)
	}
	s := &Sim{cfg: cfg, store: st, clk: clk, keys: map[string]signer{}, names: map[string]string{}, members: map[string]*round.SAMember{}, encoded: map[string][]uint64{}}
	s.coord = s.key("coordinator")
	arch, err := model.ParseArch("logreg:3-2")
	if err != nil {
		return nil, err
	}
	s.global = arch.Init(cfg.Seed)
	rule := aggregate.Spec{Rule: cfg.Rule}
	if strings.Contains(cfg.Rule, "(") {
		if rule, err = aggregate.ParseCanonical(cfg.Rule); err != nil {
			return nil, err
		}
	}
	if err := rule.Validate(); err != nil {
		return nil, err
	}
	spec := ledger.JobSpec{
		Version: ledger.Version, Name: "roundsim", Coordinator: s.ID("coordinator"), Arch: arch.String(),
		Train: ledger.TrainParams{Epochs: 1, BatchSize: 1, LR: "0.1"}, Aggregation: rule.Canonical(), Privacy: "plain",
		Committee: committee, Store: cfg.Store,
		CohortSize: cfg.CohortSize, Quorum: cfg.Quorum, MinParticipants: cfg.MinParticipants, Rounds: cfg.Rounds,
		DeadlineMillis: cfg.DeadlineMillis, NormBound: cfg.NormBound, Seed: cfg.Seed,
		MaxRegistrations: cfg.MaxRegistrations, MaxExamples: cfg.MaxExamples,
	}
	for _, name := range cfg.AllowList {
		spec.AllowList = append(spec.AllowList, s.ID(name))
	}
	slices.Sort(spec.AllowList)
	initial, err := model.MarshalSafetensors(s.global, round.ModelMeta(&spec, 0))
	if err != nil {
		return nil, err
	}
	if spec.InitialModel, err = s.put(initial); err != nil {
		return nil, err
	}
	spec.InitialModelHash = ledger.Sum(initial)
	spec.MaxUpdateBytes = spec.UpdateBytesBound(len(initial))
	if cfg.SecAgg != nil {
		if err := setSecAgg(&spec, *cfg.SecAgg, initial); err != nil {
			return nil, err
		}
	}
	if s.job, err = ledger.SignJob(s.coord, spec); err != nil {
		return nil, err
	}
	rec, err := ledger.EncodeJob(s.job)
	if err != nil {
		return nil, err
	}
	if s.jobBlob, err = s.put(rec); err != nil {
		return nil, err
	}
	s.head = s.jobBlob
	s.m = round.New(&s.job.Job, s.jobBlob, st.VerifyCert)
	return s, nil
}

func (s *Sim) put(b []byte) (ledger.BlobID, error) {
	id, _, err := s.store.Put(context.Background(), b, 0)
	return id, err
}

func (s *Sim) key(name string) signer {
	if k, ok := s.keys[name]; ok {
		return k
	}
	seed := sha256.Sum256([]byte(fmt.Sprintf("floe/roundsim/%d/%s", s.cfg.Seed, name)))
	k := signer(ed25519.NewKeyFromSeed(seed[:]))
	s.keys[name] = k
	s.names[ledger.PeerID(ed25519.PrivateKey(k).Public().(ed25519.PublicKey))] = name
	return k
}

// ID returns the peer ID of the participant called name.
func (s *Sim) ID(name string) string {
	k := s.key(name)
	return ledger.PeerID(ed25519.PrivateKey(k).Public().(ed25519.PublicKey))
}

// Name returns the name of a peer ID ("-" for none).
func (s *Sim) Name(id string) string {
	if n, ok := s.names[id]; ok {
		return n
	}
	if id == "" {
		return "-"
	}
	return "?" + id
}

// Journal returns the journal's records (CBOR events) so far.
func (s *Sim) Journal() [][]byte { return slices.Clone(s.journal) }

// Machine returns the machine (for inspection).
func (s *Sim) Machine() *round.Machine { return s.m }

// Job returns the signed job.
func (s *Sim) Job() *ledger.SignedJob { return s.job }

// JobBlob returns the job record's blob.
func (s *Sim) JobBlob() ledger.BlobID { return s.jobBlob }

// Store returns the blob store holding the chain, models and updates.
func (s *Sim) Store() blob.Store { return s.store }

// Head returns the chain head: the last commitment stored (the job blob
// before round 1).
func (s *Sim) Head() ledger.BlobID { return s.head }

// Last returns the last commitment stored, or nil.
func (s *Sim) Last() *ledger.Commitment { return s.last }

// Now returns the simulated time in milliseconds.
func (s *Sim) Now() uint64 { return s.now }

// Register registers participant name with examples.
func (s *Sim) Register(name string, examples uint64) []string {
	return s.step(round.Event{Kind: round.EvRegister, Peer: s.ID(name), NumExamples: examples})
}

// Tick advances the clock by ms and ticks the machine.
func (s *Sim) Tick(ms uint64) []string {
	s.now += ms
	s.m.Tick(s.now)
	return s.drain(nil)
}

// Update kinds for Submit.
const (
	UpdateGood    = "good"    // a small valid update
	UpdateNaN     = "nan"     // a NaN in it
	UpdateBig     = "big"     // norm far above the bound
	UpdateShape   = "shape"   // another model's layout
	UpdateHash    = "hash"    // bytes that do not match the signed hash
	UpdateMissing = "missing" // certified, then lost from the store
)

// Submission says how to build a submission; the zero value is a valid
// submission of the current round.
type Submission struct {
	From     string  // the sending peer's name when not the participant's
	Round    *uint64 // default: the machine's current round
	Examples *uint64 // default 10
	Size     *uint64 // the declared update size; default the blob's length
	BadCert  bool
	BadSig   bool
	WrongJob bool
	Update   string // an Update kind; default good
	// Junk, when set, is appended to the signature and the certificate: a
	// hostile participant's oversized fields.
	Junk []byte
	// Metrics are the participant's reported metrics, as given.
	Metrics []ledger.Metric
}

// Submit builds participant name's submission as o says, and steps it.
func (s *Sim) Submit(name string, o Submission) ([]string, error) {
	k, id := s.key(name), s.ID(name)
	from := id
	if o.From != "" {
		from = s.ID(o.From)
	}
	file, err := s.update(o.Update)
	if err != nil {
		return nil, err
	}
	var lifetime time.Duration
	if o.Update == UpdateMissing {
		lifetime = time.Millisecond // certified, then lost when its lifetime passes
	}
	blobID, cert, err := s.store.Put(context.Background(), file, lifetime)
	if err != nil {
		return nil, err
	}
	if lifetime > 0 {
		s.clk.Advance(2 * lifetime)
	}
	sub := ledger.Submission{Job: s.m.JobID(), Round: s.m.Round(), Participant: id, Blob: blobID, UpdateHash: ledger.Sum(file), NumExamples: 10}
	if o.Update == UpdateHash {
		sub.UpdateHash[0] ^= 1
	}
	if o.Round != nil {
		sub.Round = *o.Round
	}
	if o.Examples != nil {
		sub.NumExamples = *o.Examples
	}
	sub.UpdateSize = uint64(len(file))
	sub.Metrics = o.Metrics
	if o.Size != nil {
		sub.UpdateSize = *o.Size
	}
	if o.WrongJob {
		sub.Job[0] ^= 1
	}
	sig, err := ledger.SignSubmission(k, sub)
	if err != nil {
		return nil, err
	}
	if o.BadSig {
		sig[3] ^= 1
	}
	if o.BadCert {
		cert = nil
	}
	if len(o.Junk) > 0 {
		sig = append(sig, o.Junk...)
		cert = append(slices.Clone(cert), o.Junk...)
	}
	return s.step(round.Event{Kind: round.EvSubmit, Peer: from, Millis: s.now, Sub: &ledger.SignedSubmission{Sub: sub, Sig: sig, Cert: cert}}), nil
}

func (s *Sim) update(kind string) ([]byte, error) {
	u := s.global.Clone()
	flat := u.Flatten(nil)
	for i := range flat {
		flat[i] = 0.01 * float32(i+1)
	}
	if kind == UpdateMissing {
		flat[0] = 0.5 // bytes of their own, so no other update shares the blob
	}
	switch kind {
	case UpdateNaN:
		flat[0] = float32(math.NaN())
	case UpdateBig:
		for i := range flat {
			flat[i] = 1e6
		}
	case UpdateShape:
		a, _ := model.ParseArch("logreg:2-2")
		return model.MarshalSafetensors(a.Init(2), nil)
	case "", UpdateGood, UpdateHash, UpdateMissing:
	default:
		return nil, fmt.Errorf("roundsim: unknown update kind %q", kind)
	}
	if err := u.SetFlat(flat); err != nil {
		return nil, err
	}
	return model.MarshalSafetensors(u, nil)
}

// Reject steps a stream-level rejection (malformed, oversized) of peer name.
func (s *Sim) Reject(name string, reason ledger.Reason) []string {
	return s.step(round.Event{Kind: round.EvReject, Peer: s.ID(name), Reason: reason})
}

func (s *Sim) step(ev round.Event) []string {
	var out []string
	if _, err := s.m.Step(ev); err != nil {
		out = append(out, "refused: "+err.Error())
	}
	return s.drain(out)
}

// drain does what Ready asks, as coordinator.Server does: persist, then
// reply; a fold or commitment is kept for Fold and Commit. It returns what
// it did, one line each.
func (s *Sim) drain(out []string) []string {
	rd := s.m.Ready()
	for _, ev := range rd.Persist {
		b, err := codec.Marshal(ev)
		if err != nil {
			panic(err) // events always encode
		}
		s.journal = append(s.journal, b)
		out = append(out, "persist "+s.describe(&ev))
	}
	for _, r := range rd.Replies {
		verdict := "ok"
		if r.Reason != "" {
			verdict = "rejected: " + string(r.Reason)
		}
		out = append(out, fmt.Sprintf("reply %s %s", s.Name(r.Peer), verdict))
	}
	if rd.Fold != nil {
		s.fold = rd.Fold
		var names []string
		for _, sub := range rd.Fold.Subs {
			names = append(names, s.Name(sub.Sub.Participant))
		}
		out = append(out, fmt.Sprintf("ready: fold round %d of [%s]", rd.Fold.Round, strings.Join(names, " ")))
	}
	if rd.Commit != nil {
		s.commit = rd.Commit
		out = append(out, fmt.Sprintf("ready: store commitment of round %d (%s)", rd.Commit.Round, rd.Commit.Status))
	}
	s.m.Advance(rd)
	return out
}

func (s *Sim) describe(ev *round.Event) string {
	d := ev.Kind.String()
	switch ev.Kind {
	case round.EvRegister:
		d += fmt.Sprintf(" %s examples=%d", s.Name(ev.Peer), ev.NumExamples)
	case round.EvStartRound:
		var names []string
		for _, c := range ev.Candidates {
			names = append(names, s.Name(c))
		}
		d += fmt.Sprintf(" round=%d at=%dms candidates=%s", ev.Round, ev.Millis, strings.Join(names, ","))
	case round.EvSubmit:
		d += fmt.Sprintf(" %s from=%s round=%d", s.Name(ev.Sub.Sub.Participant), s.Name(ev.Peer), ev.Sub.Sub.Round)
	case round.EvReject:
		d += fmt.Sprintf(" %s %s", s.Name(ev.Peer), ev.Reason)
	case round.EvClose:
		d += fmt.Sprintf(" round=%d at=%dms", ev.Round, ev.Millis)
	case round.EvCommit:
		d += fmt.Sprintf(" round=%d head=%s", ev.Round, ledger.Hash(ev.Commit.Head).String()[:8])
	case round.EvKeys, round.EvShares, round.EvSurvivorSig, round.EvReveal:
		d += " " + s.Name(ev.Peer)
	case round.EvStep:
		d += fmt.Sprintf(" round=%d at=%dms", ev.Round, ev.Millis)
	case round.EvExclude:
		d += fmt.Sprintf(" %s at %s: %s", s.Name(ev.Peer), ev.Step, ev.Reason)
	}
	return d
}

// NoiseSeed is the simulated coordinator's DP noise seed of a round.
func NoiseSeed(r uint64) ledger.Hash { return ledger.Sum([]byte(fmt.Sprintf("roundsim noise %d", r))) }

// Fold runs the fold the machine asked for and hands the result back.
func (s *Sim) Fold() ([]string, error) {
	if s.fold == nil {
		return []string{"no fold to run"}, nil
	}
	t := s.fold
	s.fold = nil
	ctx := context.Background()
	open := func(ctx context.Context, sub *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
		return round.FetchUpdate(ctx, s.store.Get, &s.job.Job, sub)
	}
	global, err := s.store.Get(ctx, t.Model)
	if err != nil {
		return nil, err
	}
	var state []byte
	if t.StateBlob != (ledger.BlobID{}) {
		if state, err = s.store.Get(ctx, t.StateBlob); err != nil {
			return nil, err
		}
	}
	noise := NoiseSeed(t.Round)
	out, err := round.Fold(ctx, round.FoldInput{Job: &s.job.Job, Round: t.Round, Global: global, State: state, NoiseSeed: noise, Subs: t.Subs, SecAgg: t.SecAgg}, open)
	if err != nil {
		return nil, err
	}
	res := &round.FoldResult{Round: t.Round, Out: out, NoiseSeed: noise}
	if out.Status == ledger.StatusOK {
		if res.OutputModel, err = s.put(out.Model); err != nil {
			return nil, err
		}
		if len(out.State) > 0 {
			if res.StateBlob, err = s.put(out.State); err != nil {
				return nil, err
			}
		}
	}
	if err := s.m.Folded(res); err != nil {
		return nil, err
	}
	lines := []string{fmt.Sprintf("folded round %d: %s, %d valid", t.Round, out.Status, out.Valid)}
	return s.drain(lines), nil
}

// Commit signs and stores the commitment the machine built, and steps the
// commit.
func (s *Sim) Commit() ([]string, error) {
	if s.commit == nil {
		return []string{"no commitment to store"}, nil
	}
	c := s.commit
	s.commit = nil
	sc, err := ledger.SignCommitment(s.coord, *c)
	if err != nil {
		return nil, err
	}
	rec, err := ledger.EncodeCommitment(sc)
	if err != nil {
		return nil, err
	}
	head, err := s.put(rec)
	if err != nil {
		return nil, err
	}
	out := s.step(round.Event{Kind: round.EvCommit, Round: c.Round, Commit: &round.CommitInfo{Head: head, Model: c.OutputModel, ModelHash: c.OutputModelHash, StateBlob: c.StateBlob}})
	if !slices.ContainsFunc(out, func(l string) bool { return strings.HasPrefix(l, "refused") }) {
		s.last, s.head = c, head
	}
	return out, nil
}

// Crash loses the machine and its pending work, and rebuilds it from the
// journal, as a restarted coordinator does.
func (s *Sim) Crash() ([]string, error) {
	s.m = round.New(&s.job.Job, s.jobBlob, s.store.VerifyCert)
	s.fold, s.commit = nil, nil
	for i, b := range s.journal {
		var ev round.Event
		if err := codec.Unmarshal(b, &ev); err != nil {
			return nil, fmt.Errorf("roundsim: journal record %d: %w", i, err)
		}
		if _, err := s.m.Apply(ev); err != nil {
			return nil, fmt.Errorf("roundsim: journal record %d: %w", i, err)
		}
	}
	line := fmt.Sprintf("restarted from %d journal records: round %d %s", len(s.journal), s.m.Round(), s.m.Phase())
	return s.drain([]string{line}), nil
}

// Round runs a whole round: tick the round open, let every member of the
// cohort submit a good update (or what kinds says for it by name), close it
// by the deadline, fold and commit.
func (s *Sim) Round(kinds map[string]string) error {
	s.Tick(0)
	if s.m.Phase() != round.PhaseCollecting {
		return fmt.Errorf("roundsim: no round opens (phase %s)", s.m.Phase())
	}
	for _, id := range s.m.Cohort() {
		name := s.Name(id)
		kind, ok := kinds[name]
		if ok && kind == "" {
			continue // drops out
		}
		if _, err := s.Submit(name, Submission{Update: kind}); err != nil {
			return err
		}
	}
	s.Tick(s.cfg.DeadlineMillis)
	if _, err := s.Fold(); err != nil {
		return err
	}
	_, err := s.Commit()
	return err
}

// Forge signs c with the coordinator's key and stores it, as a lying
// coordinator would, and returns its blob: a head for tests of the audit.
func (s *Sim) Forge(c ledger.Commitment) (ledger.BlobID, error) {
	sc, err := ledger.SignCommitment(s.coord, c)
	if err != nil {
		return ledger.BlobID{}, err
	}
	rec, err := ledger.EncodeCommitment(sc)
	if err != nil {
		return ledger.BlobID{}, err
	}
	return s.put(rec)
}
