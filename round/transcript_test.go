package round

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The round machine's transcript tests: testdata/transcripts/*.txt are scripts of
// commands and the machine's answers, run in one goroutine on simulated
// time with seeded keys, in the style of etcd-io/raft's interaction tests.
// Rewrite the expected output with `go test ./round -run Transcripts -rewrite`.
//
// Commands:
//
//	job [cohort=N] [quorum=N] [min=N] [rounds=N] [deadline=MS] [norm=X] [rule=NAME]
//	register p1 p2 ... [examples=N]
//	tick MS                advance the clock by MS and tick
//	submit P [from=Q] [round=N] [examples=N] [cert=bad] [sig=bad] [job=wrong] [update=good|nan|big|shape|hash|missing]
//	reject P malformed|oversized
//	fold                   run the closed round's fold (Ready.Fold)
//	commit                 store the built commitment (Ready.Commit) and step the commit
//	crash                  lose the machine; rebuild it from the journal
//	commitment             print the last commitment built
//	state                  print the machine's state
//
// After every command the driver persists Ready's events to the journal and
// prints them, then prints the replies.
func TestTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata/transcripts", func(t *testing.T, path string) {
		h := &harness{t: t}
		datadriven.RunTest(t, path, h.run)
	})
}

type harness struct {
	t       *testing.T
	job     *ledger.SignedJob
	coord   crypto.PrivKey
	jobBlob ledger.BlobID
	m       *Machine
	journal [][]byte
	now     uint64
	blobs   map[ledger.BlobID][]byte
	global  *model.Params
	fold    *FoldTask
	commit  *ledger.Commitment
	last    *ledger.Commitment
	keys    map[string]crypto.PrivKey // by short name
	names   map[string]string         // peer ID -> short name
	out     strings.Builder
}

func (h *harness) key(name string) (crypto.PrivKey, string) {
	if k, ok := h.keys[name]; ok {
		id, _ := peer.IDFromPrivateKey(k)
		return k, id.String()
	}
	seed := sha256.Sum256([]byte("floe/transcript/" + name))
	k, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		h.t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	h.keys[name], h.names[id.String()] = k, name
	return k, id.String()
}

func (h *harness) name(id string) string {
	if n, ok := h.names[id]; ok {
		return n
	}
	if id == "" {
		return "-"
	}
	return "?" + id
}

func certFor(id ledger.BlobID) []byte { return append([]byte("cert:"), id[:]...) }

func (h *harness) verify(id ledger.BlobID, cert []byte) error {
	if string(cert) != string(certFor(id)) {
		return fmt.Errorf("bad certificate")
	}
	return nil
}

func (h *harness) put(b []byte) ledger.BlobID {
	id := ledger.BlobID(ledger.Sum(b))
	h.blobs[id] = b
	return id
}

func (h *harness) run(t *testing.T, d *datadriven.TestData) string {
	h.t = t
	h.out.Reset()
	switch d.Cmd {
	case "job":
		h.newJob(d)
	case "register":
		n := uint64(10)
		var peers []string
		for _, a := range d.CmdArgs {
			if a.Key == "examples" {
				n = h.uintArg(d, "examples")
				continue
			}
			peers = append(peers, a.Key)
		}
		for _, p := range peers {
			_, id := h.key(p)
			h.step(Event{Kind: EvRegister, Peer: id, NumExamples: n})
		}
	case "tick":
		ms, err := strconv.ParseUint(d.CmdArgs[0].Key, 10, 64)
		if err != nil {
			d.Fatalf(t, "tick MS: %v", err)
		}
		h.now += ms
		h.m.Tick(h.now)
	case "submit":
		h.submit(d)
	case "reject":
		_, id := h.key(d.CmdArgs[0].Key)
		h.step(Event{Kind: EvReject, Peer: id, Reason: ledger.Reason(d.CmdArgs[1].Key)})
	case "fold":
		h.runFold()
	case "commit":
		h.runCommit()
	case "crash":
		h.m = New(&h.job.Job, h.jobBlob, h.verify)
		h.fold, h.commit = nil, nil
		for i, b := range h.journal {
			var ev Event
			if err := codec.Unmarshal(b, &ev); err != nil {
				t.Fatalf("journal record %d: %v", i, err)
			}
			if _, err := h.m.Apply(ev); err != nil {
				t.Fatalf("journal record %d: %v", i, err)
			}
		}
		fmt.Fprintf(&h.out, "restarted from %d journal records: round %d %s\n", len(h.journal), h.m.Round(), h.m.Phase())
	case "commitment":
		if h.last == nil {
			return "no commitment\n"
		}
		h.printCommitment(h.last)
	case "state":
		h.printState()
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
	if h.m != nil {
		h.drain()
	}
	return h.out.String()
}

func (h *harness) uintArg(d *datadriven.TestData, key string) uint64 {
	var s string
	d.ScanArgs(h.t, key, &s)
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		d.Fatalf(h.t, "%s: %v", key, err)
	}
	return n
}

func (h *harness) arg(d *datadriven.TestData, key, def string) string {
	if !d.HasArg(key) {
		return def
	}
	var s string
	d.ScanArgs(h.t, key, &s)
	return s
}

func (h *harness) newJob(d *datadriven.TestData) {
	h.keys, h.names, h.blobs = map[string]crypto.PrivKey{}, map[string]string{}, map[ledger.BlobID][]byte{}
	ck, cid := h.key("coordinator")
	h.coord = ck
	num := func(key, def string) uint64 {
		n, err := strconv.ParseUint(h.arg(d, key, def), 10, 64)
		if err != nil {
			d.Fatalf(h.t, "%s: %v", key, err)
		}
		return n
	}
	arch, err := model.ParseArch("logreg:3-2")
	if err != nil {
		h.t.Fatal(err)
	}
	h.global = arch.Init(1)
	spec := ledger.JobSpec{
		Version: ledger.Version, Name: "transcript", Coordinator: cid, Arch: arch.String(),
		Train:      ledger.TrainParams{Epochs: 1, BatchSize: 1, LR: "0.1"},
		Privacy:    "plain",
		CohortSize: num("cohort", "3"), Quorum: num("quorum", "2"), MinParticipants: num("min", "3"),
		Rounds: num("rounds", "2"), DeadlineMillis: num("deadline", "30000"), NormBound: h.arg(d, "norm", "10"),
	}
	rule := aggregate.Spec{Rule: h.arg(d, "rule", "fedavg")}
	if err := rule.Validate(); err != nil {
		d.Fatalf(h.t, "rule: %v", err)
	}
	spec.Aggregation = rule.Canonical()
	initial, err := model.MarshalSafetensors(h.global, ModelMeta(&spec, 0))
	if err != nil {
		h.t.Fatal(err)
	}
	spec.InitialModel, spec.InitialModelHash = h.put(initial), ledger.Sum(initial)
	h.job, err = ledger.SignJob(ck, spec)
	if err != nil {
		h.t.Fatal(err)
	}
	rec, err := ledger.EncodeJob(h.job)
	if err != nil {
		h.t.Fatal(err)
	}
	h.jobBlob = h.put(rec)
	h.m = New(&h.job.Job, h.jobBlob, h.verify)
	h.journal, h.now, h.fold, h.commit, h.last = nil, 0, nil, nil, nil
	fmt.Fprintf(&h.out, "job: cohort %d quorum %d min %d rounds %d deadline %dms rule %s\n",
		spec.CohortSize, spec.Quorum, spec.MinParticipants, spec.Rounds, spec.DeadlineMillis, spec.Aggregation)
}

// update returns an update file of the given kind.
func (h *harness) update(kind string) []byte {
	u := h.global.Clone()
	flat := u.Flatten(nil)
	for i := range flat {
		flat[i] = 0.01 * float32(i+1)
	}
	switch kind {
	case "nan":
		flat[0] = float32(math.NaN())
	case "big":
		for i := range flat {
			flat[i] = 1e6
		}
	case "shape":
		a, _ := model.ParseArch("logreg:2-2")
		b, err := model.MarshalSafetensors(a.Init(2), nil)
		if err != nil {
			h.t.Fatal(err)
		}
		return b
	}
	if err := u.SetFlat(flat); err != nil {
		h.t.Fatal(err)
	}
	b, err := model.MarshalSafetensors(u, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

func (h *harness) submit(d *datadriven.TestData) {
	k, id := h.key(d.CmdArgs[0].Key)
	from := id
	if f := h.arg(d, "from", ""); f != "" {
		_, from = h.key(f)
	}
	kind := h.arg(d, "update", "good")
	file := h.update(kind)
	blobID := h.put(file)
	if kind == "missing" {
		delete(h.blobs, blobID)
	}
	sub := ledger.Submission{Job: h.m.JobID(), Round: h.m.Round(), Participant: id, Blob: blobID, UpdateHash: ledger.Sum(file), NumExamples: 10}
	if kind == "hash" {
		sub.UpdateHash[0] ^= 1
	}
	if d.HasArg("round") {
		sub.Round = h.uintArg(d, "round")
	}
	if d.HasArg("examples") {
		sub.NumExamples = h.uintArg(d, "examples")
	}
	if h.arg(d, "job", "") == "wrong" {
		sub.Job[0] ^= 1
	}
	sig, err := ledger.SignSubmission(k, sub)
	if err != nil {
		h.t.Fatal(err)
	}
	if h.arg(d, "sig", "") == "bad" {
		sig[3] ^= 1
	}
	cert := certFor(blobID)
	if h.arg(d, "cert", "") == "bad" {
		cert = nil
	}
	h.step(Event{Kind: EvSubmit, Peer: from, Millis: h.now, Sub: &ledger.SignedSubmission{Sub: sub, Sig: sig, Cert: cert}})
}

func (h *harness) step(ev Event) {
	if _, err := h.m.Step(ev); err != nil {
		fmt.Fprintf(&h.out, "refused: %v\n", err)
	}
}

// drain does what Ready asks, as a driver would: persist, then reply; a
// fold or commitment is kept for the fold and commit commands.
func (h *harness) drain() {
	rd := h.m.Ready()
	for _, ev := range rd.Persist {
		b, err := codec.Marshal(ev)
		if err != nil {
			h.t.Fatal(err)
		}
		h.journal = append(h.journal, b)
		fmt.Fprintf(&h.out, "persist %s", ev.Kind)
		switch ev.Kind {
		case EvRegister:
			fmt.Fprintf(&h.out, " %s examples=%d", h.name(ev.Peer), ev.NumExamples)
		case EvStartRound:
			var names []string
			for _, c := range ev.Candidates {
				names = append(names, h.name(c))
			}
			fmt.Fprintf(&h.out, " round=%d at=%dms candidates=%s", ev.Round, ev.Millis, strings.Join(names, ","))
		case EvSubmit:
			fmt.Fprintf(&h.out, " %s from=%s round=%d", h.name(ev.Sub.Sub.Participant), h.name(ev.Peer), ev.Sub.Sub.Round)
		case EvReject:
			fmt.Fprintf(&h.out, " %s %s", h.name(ev.Peer), ev.Reason)
		case EvClose:
			fmt.Fprintf(&h.out, " round=%d at=%dms", ev.Round, ev.Millis)
		case EvCommit:
			fmt.Fprintf(&h.out, " round=%d head=%s", ev.Round, ledger.Hash(ev.Commit.Head).String()[:8])
		}
		fmt.Fprintln(&h.out)
	}
	for _, r := range rd.Replies {
		verdict := "ok"
		if r.Reason != "" {
			verdict = "rejected: " + string(r.Reason)
		}
		fmt.Fprintf(&h.out, "reply %s %s\n", h.name(r.Peer), verdict)
	}
	if rd.Fold != nil {
		h.fold = rd.Fold
		var names []string
		for _, s := range rd.Fold.Subs {
			names = append(names, h.name(s.Sub.Participant))
		}
		fmt.Fprintf(&h.out, "ready: fold round %d of [%s]\n", rd.Fold.Round, strings.Join(names, " "))
	}
	if rd.Commit != nil {
		h.commit = rd.Commit
		fmt.Fprintf(&h.out, "ready: store commitment of round %d (%s)\n", rd.Commit.Round, rd.Commit.Status)
	}
	h.m.Advance(rd)
}

func (h *harness) runFold() {
	if h.fold == nil {
		h.out.WriteString("no fold to run\n")
		return
	}
	t := h.fold
	h.fold = nil
	open := func(_ context.Context, s *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
		b, ok := h.blobs[s.Sub.Blob]
		if !ok {
			return nil, ledger.ReasonBlobMissing, nil
		}
		return b, "", nil
	}
	var state []byte
	if t.StateBlob != (ledger.BlobID{}) {
		state = h.blobs[t.StateBlob]
	}
	noise := ledger.Sum([]byte(fmt.Sprintf("noise %d", t.Round)))
	out, err := Fold(context.Background(), FoldInput{Job: &h.job.Job, Round: t.Round, Global: h.blobs[t.Model], State: state, NoiseSeed: noise, Subs: t.Subs}, open)
	if err != nil {
		fmt.Fprintf(&h.out, "fold error: %v\n", err)
		return
	}
	res := &FoldResult{Round: t.Round, Out: out, NoiseSeed: noise}
	if out.Status == ledger.StatusOK {
		res.OutputModel = h.put(out.Model)
		if len(out.State) > 0 {
			res.StateBlob = h.put(out.State)
		}
	}
	if err := h.m.Folded(res); err != nil {
		fmt.Fprintf(&h.out, "refused: %v\n", err)
	}
	fmt.Fprintf(&h.out, "folded round %d: %s, %d valid\n", t.Round, out.Status, out.Valid)
}

func (h *harness) runCommit() {
	if h.commit == nil {
		h.out.WriteString("no commitment to store\n")
		return
	}
	c := h.commit
	h.commit = nil
	sc, err := ledger.SignCommitment(h.coord, *c)
	if err != nil {
		h.t.Fatal(err)
	}
	rec, err := ledger.EncodeCommitment(sc)
	if err != nil {
		h.t.Fatal(err)
	}
	head := h.put(rec)
	h.last = c
	h.step(Event{Kind: EvCommit, Round: c.Round, Commit: &CommitInfo{Head: head, Model: c.OutputModel, ModelHash: c.OutputModelHash, StateBlob: c.StateBlob}})
}

func (h *harness) printCommitment(c *ledger.Commitment) {
	fmt.Fprintf(&h.out, "round %d %s", c.Round, c.Status)
	if c.Reason != "" {
		fmt.Fprintf(&h.out, " (%s)", c.Reason)
	}
	var cohort []string
	for _, p := range c.Cohort {
		cohort = append(cohort, h.name(p))
	}
	fmt.Fprintf(&h.out, "\ncohort [%s] opened after %d receipts, closed at %dms, dropped %d\n", strings.Join(cohort, " "), c.Opened, c.TimeMillis, c.DroppedRejects)
	for _, s := range c.Submissions {
		fmt.Fprintf(&h.out, "  #%d %s round=%d %s", s.Arrival, h.name(s.Signed.Sub.Participant), s.Signed.Sub.Round, s.Status)
		if s.Reason != "" {
			fmt.Fprintf(&h.out, " (%s)", s.Reason)
		}
		if s.Share != 0 {
			fmt.Fprintf(&h.out, " share=%d", s.Share)
		}
		fmt.Fprintln(&h.out)
	}
	fmt.Fprintf(&h.out, "model changed: %v\n", c.OutputModel != c.InputModel)
}

func (h *harness) printState() {
	m := h.m
	var cohort, accepted []string
	for _, p := range m.cohort {
		cohort = append(cohort, h.name(p))
	}
	for p := range m.accepted {
		accepted = append(accepted, h.name(p))
	}
	slices.Sort(accepted)
	fmt.Fprintf(&h.out, "round %d %s registered %d cohort [%s] accepted [%s] receipts %d (opened after %d) next %d\n",
		m.round, m.phase, len(m.registered), strings.Join(cohort, " "), strings.Join(accepted, " "), len(m.receipts), m.opened, len(m.next))
}
