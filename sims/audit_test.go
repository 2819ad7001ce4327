package sims

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/audit"
	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/p2p"
	"github.com/floe-fl/floe/coordinator"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/round"
	"github.com/floe-fl/floe/seal"
	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
)

// auditOptions is a short plain-privacy memory simulation whose chain
// exercises every part of a commitment: a server optimizer with state
// (fedavgm), DP noise (so the noise seed matters), a norm bound that rejects
// the attacker's updates during aggregation, and dropouts with a full quorum
// so that some rounds fail.
func auditOptions(dir string) Options {
	o := DefaultOptions()
	o.Net = "memory"
	o.Participants, o.Cohort, o.Quorum, o.Rounds = 5, 4, 3, 4
	o.Attackers = 1
	o.Dropout = 0.2
	o.NormBound = 5
	o.Privacy = "plain"
	o.Rule = aggregate.Spec{Rule: "fedavgm", Params: map[string]float64{"dp_clip": 10, "dp_noise_multiplier": 0.001}}
	o.Out = dir
	return o
}

// restarted is a sim's storage committee started again from its directory
// (keys and data) on a fresh mocknet, with a client to read it.
type restarted struct {
	com    blob.Committee
	client *p2p.Client
	nodes  []*p2p.Node
	dirs   []string
}

func restartNodes(t testing.TB, out string, n int) *restarted {
	t.Helper()
	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	r := &restarted{}
	for i := 0; i < n; i++ {
		dir := filepath.Join(out, "nodes", strconv.Itoa(i))
		key, err := transport.LoadOrCreateKey(filepath.Join(dir, "key"))
		if err != nil {
			t.Fatal(err)
		}
		addr, _ := ma.NewMultiaddr(fmt.Sprintf("/ip4/10.9.0.%d/tcp/4001", i+1))
		h, err := mn.AddPeer(key, addr)
		if err != nil {
			t.Fatal(err)
		}
		node, err := p2p.NewNode(h, filepath.Join(dir, "data"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Close() })
		r.nodes = append(r.nodes, node)
		r.dirs = append(r.dirs, filepath.Join(dir, "data"))
		r.com.Members = append(r.com.Members, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	}
	ck, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := mn.AddPeer(ck, ma.StringCast("/ip4/10.9.1.1/tcp/4001"))
	if err != nil {
		t.Fatal(err)
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	if r.client, err = p2p.NewClient(ch, r.com); err != nil {
		t.Fatal(err)
	}
	return r
}

// chainFixture is one simulated chain, its blobs read back through a
// restarted committee and kept in memory for tampering.
type chainFixture struct {
	opts   Options
	res    *Result
	nodes  *restarted
	blobs  map[ledger.BlobID][]byte // every blob the honest audit read
	report *audit.Report
}

// newFixture runs the simulation into dir, restarts its storage nodes and
// audits the chain through them, keeping every blob read.
// newFixture runs the simulation of o and audits its chain. The tests need
// a chain with every round kind (see hasEveryKind); which rounds fail or
// reject depends on the seed through the cohort draws and dropouts, and any
// change to what a chain's bytes hold redraws them, so it tries seeds from
// o.Seed on until the chain has them all.
func newFixture(t *testing.T, o Options) *chainFixture {
	t.Helper()
	dir := o.Out
	for i := 0; i < 40; i++ {
		o.Out = filepath.Join(dir, strconv.Itoa(i))
		f := runFixture(t, o)
		if why := f.missingKind(t); why == "" {
			return f
		} else {
			t.Logf("seed %d: the chain lacks %s; trying seed %d", o.Seed, why, o.Seed+1)
		}
		o.Seed++
	}
	t.Fatal("no seed in 40 gives a chain with every round kind")
	return nil
}

// missingKind names a round kind the chain lacks, or "": an ok round after
// round 1 with two accepted updates and a norm rejection, a failed round,
// a round 1 with an idle cohort member, an outsider and no receipts before
// its opening, and an ok last round.
func (f *chainFixture) missingKind(t *testing.T) string {
	_, recs := f.store().walk(t, f.res.Head)
	var okRej, failed bool
	for _, rec := range recs {
		c := &rec.sc.C
		acc, norm := 0, 0
		for _, s := range c.Submissions {
			switch {
			case s.Status == ledger.StatusAccepted:
				acc++
			case s.Reason == ledger.ReasonNorm:
				norm++
			}
		}
		okRej = okRej || (c.Status == ledger.StatusOK && c.Round > 1 && acc >= 2 && norm > 0)
		failed = failed || c.Status == ledger.StatusFailed
	}
	switch {
	case !okRej:
		return "an ok round after round 1 with a norm rejection"
	case !failed:
		return "a failed round"
	case recs[len(recs)-1].sc.C.Status != ledger.StatusOK:
		return "an ok last round"
	}
	c1 := &recs[0].sc.C
	submitted := map[string]bool{}
	for _, r := range c1.Submissions {
		submitted[r.Signed.Sub.Participant] = true
	}
	idle, outsider := false, false
	for _, p := range c1.Candidates {
		in := slices.Contains(c1.Cohort, p)
		idle = idle || (in && !submitted[p])
		outsider = outsider || !in
	}
	if !idle || !outsider || c1.Opened != 0 {
		return "a round 1 with an idle cohort member and an outsider"
	}
	return ""
}

func runFixture(t *testing.T, o Options) *chainFixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatalf("simulation (seed %d): %v", o.Seed, err)
	}
	f := &chainFixture{opts: o, res: res, blobs: map[ledger.BlobID][]byte{}}
	f.nodes = restartNodes(t, o.Out, o.Nodes)
	var mu sync.Mutex
	get := func(ctx context.Context, id ledger.BlobID) ([]byte, error) {
		b, err := f.nodes.client.Get(ctx, blob.ID(id))
		if err == nil {
			mu.Lock()
			f.blobs[id] = b
			mu.Unlock()
		}
		return b, err
	}
	f.report, err = audit.Run(ctx, audit.Config{Get: get, Committee: f.nodes.com, Head: res.Head})
	if err != nil {
		t.Fatalf("audit through the restarted committee: %v", err)
	}
	return f
}

// mapStore is an in-memory, content-addressed blob store for tampering.
type mapStore struct {
	n     int
	blobs map[ledger.BlobID][]byte
}

func (f *chainFixture) store() *mapStore {
	m := &mapStore{n: f.opts.Nodes, blobs: make(map[ledger.BlobID][]byte, len(f.blobs))}
	for k, v := range f.blobs {
		m.blobs[k] = v
	}
	return m
}

func (m *mapStore) get(_ context.Context, id ledger.BlobID) ([]byte, error) {
	b, ok := m.blobs[id]
	if !ok {
		return nil, fmt.Errorf("test store: no blob %s", ledger.Hash(id))
	}
	return b, nil
}

func (m *mapStore) put(t *testing.T, b []byte) ledger.BlobID {
	t.Helper()
	id, err := blob.ComputeID(b, m.n)
	if err != nil {
		t.Fatal(err)
	}
	m.blobs[ledger.BlobID(id)] = b
	return ledger.BlobID(id)
}

func (m *mapStore) audit(t *testing.T, head ledger.BlobID) *audit.Report {
	t.Helper()
	rep, err := audit.Run(context.Background(), audit.Config{Get: m.get, Head: head})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func reportText(rep *audit.Report) string {
	var b strings.Builder
	rep.WriteText(&b)
	return b.String()
}

// TestAuditPlainChain builds one plain-privacy chain and runs the audit
// checks that only read it (the sliver test alters a node's disk and builds
// its own): the honest chain, --from, the tamper matrix, and the receipt
// checks against coordinator.Core.
func TestAuditPlainChain(t *testing.T) {
	f := newFixture(t, auditOptions(t.TempDir()))
	t.Run("honest", func(t *testing.T) { testAuditHonest(t, f) })
	t.Run("tamper", func(t *testing.T) { testAuditTamperMatrix(t, f) })
	t.Run("receipts", func(t *testing.T) { testAuditReceiptsMirrorCore(t, f) })
}

func testAuditHonest(t *testing.T, f *chainFixture) {
	t.Logf("\n%s", reportText(f.report))
	if f.report.Verdict != audit.VerdictVerified {
		t.Fatalf("honest chain: verdict %s: %v", f.report.Verdict, f.report.Err())
	}
	if err := f.report.Err(); err != nil {
		t.Fatal(err)
	}
	if len(f.report.Rounds) != f.opts.Rounds {
		t.Fatalf("%d rounds audited, want %d", len(f.report.Rounds), f.opts.Rounds)
	}
	// A committee file whose members are not the job's is noted; the
	// certificates are still checked against the job's committee.
	other := f.nodes.com
	other.Members = slices.Clone(other.Members)
	other.Members[0], other.Members[1] = other.Members[1], other.Members[0]
	m0 := f.store()
	rep, err := audit.Run(context.Background(), audit.Config{Get: m0.get, Committee: other, Head: f.res.Head})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != audit.VerdictVerified || !strings.Contains(strings.Join(rep.Notes, "\n"), "differs from the job's committee") {
		t.Fatalf("reordered committee file: verdict %s, notes %q", rep.Verdict, rep.Notes)
	}

	// --from R: earlier rounds get structure checks only, and the replay
	// starts from the committed model and aggregator state (the chain has
	// failed rounds, so the state comes from an earlier round's blob).
	m := f.store()
	for from := uint64(2); from <= uint64(f.opts.Rounds)+1; from++ {
		rep, err := audit.Run(context.Background(), audit.Config{Get: m.get, Head: f.res.Head, From: from})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Verdict != audit.VerdictVerified {
			t.Fatalf("from %d: %s: %v", from, rep.Verdict, rep.Err())
		}
		for _, row := range rep.Rounds {
			want := audit.VerdictVerified
			if row.Round < from {
				want = audit.VerdictStructure
			}
			if row.Verdict != want {
				t.Fatalf("from %d: round %d verdict %s, want %s", from, row.Round, row.Verdict, want)
			}
		}
	}
	// A lie in what only the replay checks is caught from its round on, and
	// goes unseen with --from after it. (A lie in an earlier round changes
	// that record's ID, so the next round's cohort seed exposes it anyway.)
	last := uint64(f.opts.Rounds)
	coord := keyFor(f.opts.Seed, "coordinator")
	lie := m.edit(t, f.res.Head, last, coord, func(c *ledger.Commitment) { c.NoiseSeed = flipHash(c.NoiseSeed) })
	for _, tc := range []struct {
		from uint64
		want string
	}{{last, audit.VerdictFailed}, {last + 1, audit.VerdictVerified}} {
		rep, err := audit.Run(context.Background(), audit.Config{Get: m.get, Head: lie, From: tc.from})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Verdict != tc.want {
			t.Fatalf("noise-seed lie in the last round, from %d: verdict %s, want %s (%v)", tc.from, rep.Verdict, tc.want, rep.Err())
		}
	}
}

type chainRec struct {
	id ledger.BlobID
	sc ledger.SignedCommitment
}

// walk decodes the chain ending at head: the job blob and the commitments in
// round order.
func (m *mapStore) walk(t *testing.T, head ledger.BlobID) (ledger.BlobID, []chainRec) {
	t.Helper()
	links, err := ledger.WalkBack(context.Background(), m.get, head, false)
	if err != nil {
		t.Fatal(err)
	}
	var recs []chainRec
	for i := len(links) - 2; i >= 0; i-- {
		recs = append(recs, chainRec{id: links[i].ID, sc: *links[i].Commitment})
	}
	return links[len(links)-1].ID, recs
}

// clone deep-copies a commitment's slices so that edits do not leak.
func clone(c ledger.Commitment) ledger.Commitment {
	c.Candidates = slices.Clone(c.Candidates)
	c.Cohort = slices.Clone(c.Cohort)
	c.Submissions = slices.Clone(c.Submissions)
	c.Metrics = slices.Clone(c.Metrics)
	return c
}

// store writes cs after jobBlob as a chain and returns its head. Records
// from index first on are re-linked (Prev = the blob before) and, when key
// is set, re-signed with it; earlier records keep their bytes.
func (m *mapStore) store(t *testing.T, jobBlob ledger.BlobID, cs []ledger.SignedCommitment, first int, key crypto.PrivKey) ledger.BlobID {
	t.Helper()
	prev := jobBlob
	for i := range cs {
		sc := cs[i]
		if i > first {
			sc.C.Prev = prev
		}
		if i >= first && key != nil {
			s, err := ledger.SignCommitment(key, sc.C)
			if err != nil {
				t.Fatal(err)
			}
			sc = *s
		}
		b, err := ledger.EncodeCommitment(&sc)
		if err != nil {
			t.Fatal(err)
		}
		prev = m.put(t, b)
	}
	return prev
}

// edit changes round r's commitment with mutate and stores the chain again:
// with key set, as a coordinator holding key would (re-signing round r and
// every later round after re-linking them); with key nil, keeping the old
// signatures.
func (m *mapStore) edit(t *testing.T, head ledger.BlobID, r uint64, key crypto.PrivKey, mutate func(c *ledger.Commitment)) ledger.BlobID {
	t.Helper()
	jobBlob, recs := m.walk(t, head)
	cs := make([]ledger.SignedCommitment, len(recs))
	for i, rec := range recs {
		cs[i] = rec.sc
		cs[i].C = clone(rec.sc.C)
	}
	mutate(&cs[r-1].C)
	return m.store(t, jobBlob, cs, int(r-1), key)
}

func flip(b []byte, i int) []byte {
	b = slices.Clone(b)
	b[i%len(b)] ^= 0x40
	return b
}

func flipHash(h ledger.Hash) ledger.Hash { h[7] ^= 1; return h }

// tamperCase is one alteration of the chain and what the audit must say.
type tamperCase struct {
	name   string
	round  uint64   // the round the audit must name (0: the job record)
	checks []string // the failing check must be one of these
	build  func(t *testing.T, m *mapStore) ledger.BlobID
}

// testAuditTamperMatrix alters a simulated chain one way at a time and
// requires the audit to fail naming the altered round and a fitting check.
func testAuditTamperMatrix(t *testing.T, f *chainFixture) {
	if err := f.report.Err(); err != nil {
		t.Fatalf("honest chain does not verify: %v", err)
	}
	head := f.res.Head
	coord := keyFor(f.opts.Seed, "coordinator")
	other := keyFor(f.opts.Seed+1000, "coordinator")
	_, recs := f.store().walk(t, head)

	// Pick the rounds to tamper with by what they hold.
	var okR, failR, rejR uint64 // an ok round with >= 2 accepted, a failed round, an ok round with a rejection made by Fold
	for _, rec := range recs {
		c := &rec.sc.C
		acc, foldRej := 0, 0
		for _, s := range c.Submissions {
			if s.Status == ledger.StatusAccepted {
				acc++
			} else if s.Reason == "norm above bound" {
				foldRej++
			}
		}
		switch {
		case c.Status == ledger.StatusFailed && failR == 0:
			failR = c.Round
		case c.Status == ledger.StatusOK && acc >= 2 && c.Round > 1:
			okR = c.Round
			if foldRej > 0 {
				rejR = c.Round
			}
		}
	}
	if okR == 0 || failR == 0 || rejR == 0 {
		t.Fatalf("the fixture chain lacks a round kind: ok>1 %d, failed %d, ok with a norm rejection %d", okR, failR, rejR)
	}
	okRec := recs[okR-1].sc.C
	firstAccepted := func(c *ledger.Commitment) int {
		for i, s := range c.Submissions {
			if s.Status == ledger.StatusAccepted {
				return i
			}
		}
		t.Fatal("no accepted submission")
		return -1
	}
	outsider := ""
	for _, p := range okRec.Candidates {
		if !slices.Contains(okRec.Cohort, p) {
			outsider = p
		}
	}

	// Every field of a commitment, re-signed by the real coordinator (a
	// lying coordinator) and, separately, not re-signed.
	type field struct {
		name   string
		round  uint64
		checks []string
		mutate func(m *mapStore, c *ledger.Commitment)
	}
	fields := []field{
		{"Version", okR, []string{"record", "signature"}, func(_ *mapStore, c *ledger.Commitment) { c.Version = 2 }},
		{"Job", okR, []string{"link"}, func(_ *mapStore, c *ledger.Commitment) { c.Job = flipHash(c.Job) }},
		{"Round", okR, []string{"link"}, func(_ *mapStore, c *ledger.Commitment) { c.Round++ }},
		{"Prev", okR, []string{"link"}, func(_ *mapStore, c *ledger.Commitment) { c.Prev = c.InputModel }},
		{"InputModel", okR, []string{"input"}, func(_ *mapStore, c *ledger.Commitment) { c.InputModel = c.OutputModel }},
		{"InputModelHash", okR, []string{"input"}, func(_ *mapStore, c *ledger.Commitment) { c.InputModelHash = flipHash(c.InputModelHash) }},
		{"CohortSeed", okR, []string{"cohort"}, func(_ *mapStore, c *ledger.Commitment) { c.CohortSeed = flipHash(c.CohortSeed) }},
		{"Candidates", okR, []string{"cohort"}, func(_ *mapStore, c *ledger.Commitment) { c.Candidates = c.Candidates[:len(c.Candidates)-1] }},
		{"Cohort", okR, []string{"cohort"}, func(_ *mapStore, c *ledger.Commitment) { c.Cohort[0] = outsider; slices.Sort(c.Cohort) }},
		{"Submissions.NumExamples", okR, []string{"submission"}, func(_ *mapStore, c *ledger.Commitment) {
			c.Submissions[firstAccepted(c)].Signed.Sub.NumExamples++
		}},
		{"Submissions.Sig", okR, []string{"submission"}, func(_ *mapStore, c *ledger.Commitment) {
			s := &c.Submissions[firstAccepted(c)].Signed
			s.Sig = flip(s.Sig, 5)
		}},
		{"Submissions.Cert", okR, []string{"submission"}, func(_ *mapStore, c *ledger.Commitment) {
			s := &c.Submissions[firstAccepted(c)].Signed
			s.Cert = flip(s.Cert, len(s.Cert)-4)
		}},
		{"Submissions.UpdateHash", okR, []string{"submission"}, func(_ *mapStore, c *ledger.Commitment) {
			s := &c.Submissions[firstAccepted(c)].Signed.Sub
			s.UpdateHash = flipHash(s.UpdateHash)
		}},
		{"Submissions.swap", okR, []string{"order"}, func(_ *mapStore, c *ledger.Commitment) {
			c.Submissions[0], c.Submissions[1] = c.Submissions[1], c.Submissions[0]
		}},
		{"Submissions.drop", okR, []string{"shares", "quorum", "replay", "model"}, func(_ *mapStore, c *ledger.Commitment) {
			c.Submissions = slices.Delete(c.Submissions, firstAccepted(c), firstAccepted(c)+1)
		}},
		{"Submissions.Status", okR, []string{"shares", "quorum", "replay"}, func(_ *mapStore, c *ledger.Commitment) {
			s := &c.Submissions[firstAccepted(c)]
			s.Status, s.Reason, s.Share = ledger.StatusRejected, "norm above bound", 0
		}},
		{"Submissions.Share", okR, []string{"shares"}, func(_ *mapStore, c *ledger.Commitment) { c.Submissions[firstAccepted(c)].Share++ }},
		{"Submissions.Reason", rejR, []string{"replay"}, func(_ *mapStore, c *ledger.Commitment) {
			for i := range c.Submissions {
				if c.Submissions[i].Reason == "norm above bound" {
					c.Submissions[i].Reason = "non-finite values"
				}
			}
		}},
		{"Submissions.receipt", okR, []string{"receipt"}, func(_ *mapStore, c *ledger.Commitment) {
			s := c.Submissions[firstAccepted(c)]
			s.Status, s.Reason, s.Share = ledger.StatusRejected, "not in cohort", 0
			c.Submissions = append(c.Submissions, s)
		}},
		{"Rule", okR, []string{"job"}, func(_ *mapStore, c *ledger.Commitment) { c.Rule = "fedavg(dp_clip=0,dp_noise_multiplier=0)" }},
		{"NoiseSeed", okR, []string{"model"}, func(_ *mapStore, c *ledger.Commitment) { c.NoiseSeed = flipHash(c.NoiseSeed) }},
		{"Status", okR, []string{"quorum"}, func(_ *mapStore, c *ledger.Commitment) { c.Status = ledger.StatusFailed }},
		{"Reason", okR, []string{"quorum"}, func(_ *mapStore, c *ledger.Commitment) { c.Reason = "all good" }},
		{"OutputModel", okR, []string{"model"}, func(m *mapStore, c *ledger.Commitment) {
			b := flip(m.blobs[c.OutputModel], len(m.blobs[c.OutputModel])-3)
			c.OutputModel, c.OutputModelHash = m.putNoT(b), ledger.Sum(b)
		}},
		{"OutputModelHash", okR, []string{"model"}, func(_ *mapStore, c *ledger.Commitment) { c.OutputModelHash = flipHash(c.OutputModelHash) }},
		{"StateBlob", okR, []string{"state"}, func(m *mapStore, c *ledger.Commitment) {
			b := flip(m.blobs[c.StateBlob], len(m.blobs[c.StateBlob])-3)
			c.StateBlob, c.StateHash = m.putNoT(b), ledger.Sum(b)
		}},
		{"StateHash", okR, []string{"state"}, func(_ *mapStore, c *ledger.Commitment) { c.StateHash = flipHash(c.StateHash) }},
		{"TimeMillis", okR, []string{"link"}, func(_ *mapStore, c *ledger.Commitment) { c.TimeMillis = 0 }},
		{"DroppedRejects", okR, []string{"receipt"}, func(_ *mapStore, c *ledger.Commitment) { c.DroppedRejects = 1 }},
		{"failed.Status", failR, []string{"quorum"}, func(_ *mapStore, c *ledger.Commitment) { c.Status, c.Reason = ledger.StatusOK, "" }},
		{"failed.Reason", failR, []string{"quorum"}, func(_ *mapStore, c *ledger.Commitment) { c.Reason = "quorum not reached: 0 valid updates, need 1" }},
		{"failed.OutputModel", failR, []string{"model"}, func(_ *mapStore, c *ledger.Commitment) {
			c.OutputModel, c.OutputModelHash = okRec.OutputModel, okRec.OutputModelHash
		}},
		{"failed.StateHash", failR, []string{"state"}, func(_ *mapStore, c *ledger.Commitment) { c.StateHash = okRec.StateHash }},
		{"failed.NoiseSeed", failR, []string{"replay"}, func(_ *mapStore, c *ledger.Commitment) { c.NoiseSeed = okRec.NoiseSeed }},
	}
	var cases []tamperCase
	for _, fl := range fields {
		cases = append(cases, tamperCase{"re-signed " + fl.name, fl.round, fl.checks, func(t *testing.T, m *mapStore) ledger.BlobID {
			return m.edit(t, head, fl.round, coord, func(c *ledger.Commitment) { fl.mutate(m, c) })
		}})
		// Not re-signed: the altered record keeps its old signature (later
		// records are re-linked to it and keep theirs).
		if fl.round == okR {
			checks := []string{"signature"}
			switch fl.name {
			case "Version":
				checks = append(checks, "record") // the record no longer decodes
			case "Prev":
				checks = append(checks, "link") // the walk back stops at the broken link first
			}
			cases = append(cases, tamperCase{"not re-signed " + fl.name, okR, checks, func(t *testing.T, m *mapStore) ledger.BlobID {
				return m.edit(t, head, okR, nil, func(c *ledger.Commitment) { fl.mutate(m, c) })
			}})
		}
	}

	cases = append(cases,
		tamperCase{"unsigned record served under its old ID", 1, []string{"record"}, func(t *testing.T, m *mapStore) ledger.BlobID {
			_, recs := m.walk(t, head)
			c := recs[0].sc
			c.C = clone(c.C)
			c.C.TimeMillis++
			b, err := ledger.EncodeCommitment(&c)
			if err != nil {
				t.Fatal(err)
			}
			m.blobs[recs[0].id] = b
			return head
		}},
		tamperCase{"record byte flipped under its ID", okR, []string{"record", "link"}, func(t *testing.T, m *mapStore) ledger.BlobID {
			_, recs := m.walk(t, head)
			id := recs[okR-1].id
			m.blobs[id] = flip(m.blobs[id], 50)
			return head
		}},
		tamperCase{"job record byte flipped under its ID", 0, []string{"record", "signature", "job"}, func(t *testing.T, m *mapStore) ledger.BlobID {
			jb, _ := m.walk(t, head)
			m.blobs[jb] = flip(m.blobs[jb], 60)
			return head
		}},
		tamperCase{"re-signed commitment with another key", okR, []string{"signature"}, func(t *testing.T, m *mapStore) ledger.BlobID {
			return m.edit(t, head, okR, other, func(c *ledger.Commitment) {})
		}},
		tamperCase{"re-signed forged model with another key", okR, []string{"signature"}, func(t *testing.T, m *mapStore) ledger.BlobID {
			return m.edit(t, head, okR, other, func(c *ledger.Commitment) { c.OutputModelHash = flipHash(c.OutputModelHash) })
		}},
		tamperCase{"model blob bytes altered", okR, []string{"model"}, func(t *testing.T, m *mapStore) ledger.BlobID {
			id := okRec.OutputModel
			m.blobs[id] = flip(m.blobs[id], len(m.blobs[id])/2)
			return head
		}},
		tamperCase{"initial model bytes altered", 1, []string{"model"}, func(t *testing.T, m *mapStore) ledger.BlobID {
			id := recs[0].sc.C.InputModel
			m.blobs[id] = flip(m.blobs[id], len(m.blobs[id])/2)
			return head
		}},
		tamperCase{"model blob lost", okR, []string{"model"}, func(t *testing.T, m *mapStore) ledger.BlobID {
			delete(m.blobs, okRec.OutputModel)
			return head
		}},
		tamperCase{"state blob bytes altered", okR, []string{"state"}, func(t *testing.T, m *mapStore) ledger.BlobID {
			id := okRec.StateBlob
			m.blobs[id] = flip(m.blobs[id], len(m.blobs[id])-2)
			return head
		}},
		tamperCase{"update blob bytes altered", okR, []string{"replay"}, func(t *testing.T, m *mapStore) ledger.BlobID {
			id := okRec.Submissions[firstAccepted(&okRec)].Signed.Sub.Blob
			m.blobs[id] = flip(m.blobs[id], len(m.blobs[id])-5)
			return head
		}},
		tamperCase{"update replaced and re-pointed (re-signed)", okR, []string{"submission"}, func(t *testing.T, m *mapStore) ledger.BlobID {
			return m.edit(t, head, okR, coord, func(c *ledger.Commitment) {
				s := &c.Submissions[firstAccepted(c)].Signed.Sub
				b := flip(m.blobs[s.Blob], len(m.blobs[s.Blob])-5)
				s.Blob, s.UpdateHash = m.putNoT(b), ledger.Sum(b)
			})
		}},
		tamperCase{"rounds reordered (re-signed, renumbered)", 2, []string{"cohort", "input", "link"}, func(t *testing.T, m *mapStore) ledger.BlobID {
			jb, recs := m.walk(t, head)
			cs := make([]ledger.SignedCommitment, len(recs))
			for i := range recs {
				cs[i] = recs[i].sc
			}
			cs[1], cs[2] = cs[2], cs[1]
			cs[1].C.Round, cs[2].C.Round = 2, 3
			cs[1].C.Prev = recs[0].id
			return m.store(t, jb, cs, 1, coord)
		}},
		tamperCase{"rounds reordered (not re-signed)", 2, []string{"link", "signature"}, func(t *testing.T, m *mapStore) ledger.BlobID {
			jb, recs := m.walk(t, head)
			cs := make([]ledger.SignedCommitment, len(recs))
			for i := range recs {
				cs[i] = recs[i].sc
			}
			cs[1], cs[2] = cs[2], cs[1]
			cs[1].C.Prev = recs[0].id
			return m.store(t, jb, cs, 1, nil)
		}},
	)

	var log strings.Builder
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := f.store()
			h := tc.build(t, m)
			rep := m.audit(t, h)
			if rep.Verdict != audit.VerdictFailed || rep.Failure == nil {
				t.Fatalf("tampering passed: verdict %s\n%s", rep.Verdict, reportText(rep))
			}
			fl := rep.Failure
			fmt.Fprintf(&log, "%-45s round %d  %-10s %s\n", tc.name, fl.Round, fl.Check, fl.Detail)
			if fl.Round != tc.round || !slices.Contains(tc.checks, fl.Check) {
				t.Fatalf("audit named round %d check %s (%v), want round %d check in %v", fl.Round, fl.Check, fl, tc.round, tc.checks)
			}
			if err := rep.Err(); err == nil || !errors.Is(err, ledger.ErrCorruption) {
				t.Fatalf("Report.Err() = %v, want an ErrCorruption", err)
			}
		})
	}
	t.Logf("tamper matrix (%d cases):\n%s", len(cases), log.String())

	// An update blob that cannot be read (expired, or lost by more than f
	// nodes) leaves the round unreplayable: incomplete, never verified.
	t.Run("update blob lost", func(t *testing.T) {
		m := f.store()
		delete(m.blobs, okRec.Submissions[firstAccepted(&okRec)].Signed.Sub.Blob)
		rep := m.audit(t, head)
		row := rep.Rounds[okR-1]
		if rep.Verdict != audit.VerdictIncomplete || row.Verdict != audit.VerdictIncomplete || !slices.ContainsFunc(row.Skipped, func(s audit.Skip) bool { return s.Check == audit.CheckReplay }) {
			t.Fatalf("lost update: verdict %s, round %d %s skipped %v; want incomplete with the replay skipped", rep.Verdict, okR, row.Verdict, row.Skipped)
		}
	})

	// Signed claims the audit cannot check: the coordinator's evaluation
	// metrics and its clock (within order). A coordinator that lies about
	// them is not caught, and the report says these are unchecked.
	for _, tc := range []struct {
		name, note string
		mutate     func(c *ledger.Commitment)
	}{
		{"Metrics", "evaluation metrics are not checked", func(c *ledger.Commitment) { c.Metrics = []ledger.Metric{{Name: "accuracy", Value: "0.999"}} }},
		{"TimeMillis+1", "round times are checked for order only", func(c *ledger.Commitment) { c.TimeMillis++ }},
	} {
		t.Run("unverifiable re-signed "+tc.name, func(t *testing.T) {
			m := f.store()
			rep := m.audit(t, m.edit(t, head, okR, coord, tc.mutate))
			if rep.Verdict != audit.VerdictVerified || !strings.Contains(strings.Join(rep.Notes, "\n"), tc.note) {
				t.Fatalf("verdict %s, notes %q: want verified with the note %q", rep.Verdict, rep.Notes, tc.note)
			}
		})
	}
}

func (m *mapStore) putNoT(b []byte) ledger.BlobID {
	id, err := blob.ComputeID(b, m.n)
	if err != nil {
		panic(err)
	}
	m.blobs[ledger.BlobID(id)] = b
	return ledger.BlobID(id)
}

// TestAuditSliverCorruptionOnDisk flips bytes of slivers on storage nodes'
// disks: up to n-k corrupted slivers per blob are harmless (reads verify each
// sliver and decode around the bad ones, and the audit still verifies); more
// make the blob unreadable, and the audit fails naming the round.
func TestAuditSliverCorruptionOnDisk(t *testing.T) {
	f := newFixture(t, auditOptions(t.TempDir()))
	if err := f.report.Err(); err != nil {
		t.Fatalf("honest chain does not verify: %v", err)
	}
	m := f.store()
	_, recs := m.walk(t, f.res.Head)
	var target ledger.BlobID // the output model of the last ok round
	var round uint64
	for _, r := range recs {
		if r.sc.C.Status == ledger.StatusOK {
			target, round = r.sc.C.OutputModel, r.sc.C.Round
		}
	}
	corrupt := func(node int, id ledger.BlobID) {
		t.Helper()
		p := filepath.Join(f.nodes.dirs[node], "slivers", fmt.Sprintf("%s.%d", blob.ID(id), node))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-1] ^= 0xff
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	get := func(ctx context.Context, id ledger.BlobID) ([]byte, error) {
		return f.nodes.client.Get(ctx, blob.ID(id))
	}
	n, k := f.nodes.com.N(), f.nodes.com.K()
	// Corrupt n-k slivers of the model and of every record.
	for node := 0; node < n-k; node++ {
		corrupt(node, target)
		for _, r := range recs {
			corrupt(node, r.id)
		}
	}
	st, err := f.nodes.client.Stat(ctx, blob.ID(target))
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, s := range st {
		if s.State == p2p.SliverInvalid {
			bad++
		}
	}
	if bad != n-k {
		t.Fatalf("Stat reports %d invalid slivers of the model, want %d: %+v", bad, n-k, st)
	}
	rep, err := audit.Run(ctx, audit.Config{Get: get, Committee: f.nodes.com, Head: f.res.Head})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != audit.VerdictVerified {
		t.Fatalf("with %d corrupted slivers per blob (n=%d, k=%d) the audit should still verify: %v", n-k, n, k, rep.Err())
	}
	// One more corrupted sliver of the model: it can no longer be read.
	corrupt(n-k, target)
	rep, err = audit.Run(ctx, audit.Config{Get: get, Committee: f.nodes.com, Head: f.res.Head})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != audit.VerdictFailed || rep.Failure.Round != round || rep.Failure.Check != audit.CheckModel {
		t.Fatalf("with %d corrupted slivers the model is unreadable: want round %d model failure, got %s %+v", n-k+1, round, rep.Verdict, rep.Failure)
	}
	t.Logf("%d of %d slivers corrupted: verified; %d: %v", n-k, n, n-k+1, rep.Failure)
}

// simHPKEKey is the coordinator's HPKE key in a simulation (see Run).
func simHPKEKey(t *testing.T, seed uint64) *seal.Key {
	t.Helper()
	h := sha256.Sum256([]byte("floe/sim-hpke/v1\x00" + strconv.FormatUint(seed, 10)))
	k, err := seal.DeriveKey(h[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestAuditSealedRecipientOrNot audits a sealed chain as a non-recipient
// (every check needing no plaintext is made; the others are reported as
// skipped, and the verdict is incomplete, not verified) and as a recipient
// (every check, verified), and shows what each catches of a lying coordinator.
func TestAuditSealedRecipientOrNot(t *testing.T) {
	o := auditOptions(t.TempDir())
	o.Privacy = "sealed"
	f := newFixture(t, o)
	o = f.opts // the seed the fixture settled on
	t.Logf("non-recipient:\n%s", reportText(f.report))
	rep := f.report
	if rep.Verdict != audit.VerdictIncomplete || !errors.Is(rep.Err(), audit.ErrIncomplete) {
		t.Fatalf("non-recipient audit of a sealed chain: verdict %s, err %v; want incomplete", rep.Verdict, rep.Err())
	}
	for _, row := range rep.Rounds {
		for _, c := range []string{audit.CheckSignature, audit.CheckCohort, audit.CheckSubmission, audit.CheckReceipt, audit.CheckQuorum, audit.CheckShares, audit.CheckInput} {
			if !slices.Contains(row.Checked, c) {
				t.Errorf("round %d: check %s not made without plaintext (made: %v)", row.Round, c, row.Checked)
			}
		}
		var skipped []string
		for _, s := range row.Skipped {
			skipped = append(skipped, s.Check)
			if !strings.Contains(s.Why, "sealed") && !strings.Contains(s.Why, "no replay") {
				t.Errorf("round %d: skip reason does not say why: %q", row.Round, s.Why)
			}
		}
		if !slices.Contains(skipped, audit.CheckReplay) || !slices.Contains(skipped, audit.CheckUpdate) {
			t.Errorf("round %d: replay and update checks not reported skipped: %v", row.Round, skipped)
		}
	}

	m := f.store()
	key := simHPKEKey(t, o.Seed)
	run := func(head ledger.BlobID, k *seal.Key, name string) *audit.Report {
		t.Helper()
		rep, err := audit.Run(context.Background(), audit.Config{Get: m.get, Head: head, Key: k, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := run(f.res.Head, key, "coordinator"); rep.Verdict != audit.VerdictVerified {
		t.Fatalf("recipient audit: %s: %v\n%s", rep.Verdict, rep.Err(), reportText(rep))
	}
	// The auditor recipient, with the key file the simulation leaves (what
	// `floe audit --key OUT/auditor.hpke` reads).
	akey, err := seal.LoadOrCreateKey(filepath.Join(o.Out, "auditor.hpke"))
	if err != nil {
		t.Fatal(err)
	}
	if rep := run(f.res.Head, akey, AuditorName); rep.Verdict != audit.VerdictVerified || rep.Recipient != AuditorName {
		t.Fatalf("auditor-recipient audit: %s (as %q): %v", rep.Verdict, rep.Recipient, rep.Err())
	}
	if rep := run(f.res.Head, akey, "coordinator"); rep.Verdict != audit.VerdictIncomplete {
		t.Fatalf("the auditor's key under the coordinator's name: %s, want incomplete", rep.Verdict)
	}
	wrong, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if rep := run(f.res.Head, wrong, "coordinator"); rep.Verdict != audit.VerdictIncomplete || !strings.Contains(rep.Rounds[0].Skipped[0].Why, "not recipient") {
		t.Fatalf("audit with a wrong key: %s %+v", rep.Verdict, rep.Rounds[0].Skipped)
	}

	// A lying coordinator: a quorum lie is caught without plaintext; a
	// forged output model (bytes and hash consistent) needs the replay.
	_, recs := m.walk(t, f.res.Head)
	var okR uint64
	for _, r := range recs {
		if r.sc.C.Status == ledger.StatusOK {
			okR = r.sc.C.Round
		}
	}
	coord := keyFor(o.Seed, "coordinator")
	lie := m.edit(t, f.res.Head, okR, coord, func(c *ledger.Commitment) { c.Status = ledger.StatusFailed })
	if rep := run(lie, nil, ""); rep.Verdict != audit.VerdictFailed || rep.Failure.Round != okR || rep.Failure.Check != audit.CheckQuorum {
		t.Fatalf("quorum lie without a key: %s %+v", rep.Verdict, rep.Failure)
	}
	forged := m.edit(t, f.res.Head, okR, coord, func(c *ledger.Commitment) {
		b := flip(m.blobs[c.OutputModel], len(m.blobs[c.OutputModel])-3)
		c.OutputModel, c.OutputModelHash = m.putNoT(b), ledger.Sum(b)
	})
	if rep := run(forged, nil, ""); rep.Verdict != audit.VerdictIncomplete {
		t.Fatalf("forged model without a key: verdict %s, want incomplete (never verified)", rep.Verdict)
	}
	if rep := run(forged, key, "coordinator"); rep.Verdict != audit.VerdictFailed || rep.Failure.Round != okR || rep.Failure.Check != audit.CheckModel {
		t.Fatalf("forged model with the key: %s %+v", rep.Verdict, rep.Failure)
	}
}

// BenchmarkAuditVsAggregate compares, in one run, what producing a chain's
// aggregations costs the coordinator and what auditing the chain costs.
// Production is closeRound's work re-executed through the public API for
// every round: read the aggregator state, round.Fold (reading and
// opening every update), store the model and state, sign and store the
// commitment; "fold" is the part before storing. The audit is audit.Run as a
// recipient (it opens every update and replays every round), with its
// default 4 concurrent reads and with one read at a time (as the coordinator
// reads updates). All read from the same restarted storage committee. The chain: MNIST 2NN
// (mlp:784-200-200-10), sealed updates, 10 participants all in every round,
// $FLOE_AUDIT_BENCH_ROUNDS rounds (default 20, the figure).
//
//	go test ./sims -run '^$' -bench AuditVsAggregate -benchtime 3x
func BenchmarkAuditVsAggregate(b *testing.B) {
	dir, ok := model.FindMNIST()
	if !ok {
		b.Skipf("MNIST not found in %q: set $%s", dir, model.MNISTDirEnv)
	}
	rounds := 20
	if s := os.Getenv("FLOE_AUDIT_BENCH_ROUNDS"); s != "" {
		var err error
		if rounds, err = strconv.Atoi(s); err != nil || rounds < 1 {
			b.Fatalf("FLOE_AUDIT_BENCH_ROUNDS=%q: want a positive integer", s)
		}
	}
	o := DefaultOptions()
	o.Net, o.Dataset, o.DataDir, o.Arch = "memory", "mnist", dir, "mlp:784-200-200-10"
	o.Participants, o.Cohort, o.Rounds = 10, 10, rounds
	o.Out = b.TempDir()
	ctx := context.Background()
	start := time.Now()
	res, err := Run(ctx, o, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("chain of %d rounds built in %.1fs (training included)", rounds, time.Since(start).Seconds())
	nodes := restartNodes(b, o.Out, o.Nodes)
	store := p2p.Store{Client: nodes.client}
	hkey := simHPKEKey2(b, o.Seed)
	ckey := keyFor(o.Seed, "coordinator")
	if _, err := store.Get(ctx, res.Head); err != nil { // warm the connections
		b.Fatal(err)
	}
	var prodFold, prodTotal, auditT, auditSeq time.Duration
	runAudit := func(fetchers int) time.Duration {
		t0 := time.Now()
		rep, err := audit.Run(ctx, audit.Config{Get: store.Get, Head: res.Head, Key: hkey, Name: coordinator.RecipientName, Fetchers: fetchers})
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		if rep.Verdict != audit.VerdictVerified {
			b.Fatalf("audit: %v", rep.Err())
		}
		return d
	}
	b.ResetTimer()
	for b.Loop() {
		f, tot := produceChain(b, ctx, store, res.Head, ckey, hkey)
		prodFold += f
		prodTotal += tot
		auditT += runAudit(0)
		auditSeq += runAudit(1)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(prodFold.Seconds()/n, "produce-fold-s")
	b.ReportMetric(prodTotal.Seconds()/n, "produce-total-s")
	b.ReportMetric(auditT.Seconds()/n, "audit-s")
	b.ReportMetric(auditSeq.Seconds()/n, "audit-seq-s")
	b.ReportMetric(auditT.Seconds()/prodTotal.Seconds(), "audit/produce")
	b.ReportMetric(auditSeq.Seconds()/prodFold.Seconds(), "audit-seq/fold")
	b.Logf("%d rounds: produce %.2fs (fold %.2fs); audit %.2fs (one read at a time: %.2fs): audit/produce %.2f, sequential audit/fold %.2f",
		rounds, prodTotal.Seconds()/n, prodFold.Seconds()/n, auditT.Seconds()/n, auditSeq.Seconds()/n,
		auditT.Seconds()/prodTotal.Seconds(), auditSeq.Seconds()/prodFold.Seconds())
}

func simHPKEKey2(b testing.TB, seed uint64) *seal.Key {
	h := sha256.Sum256([]byte("floe/sim-hpke/v1\x00" + strconv.FormatUint(seed, 10)))
	k, err := seal.DeriveKey(h[:])
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// produceChain redoes the coordinator's closing work for every round of the
// chain at head and returns the time spent in aggregation (state read and
// Fold) and in all (plus storing model, state and the signed commitment).
// Each round's output must hash to the committed one.
func produceChain(b *testing.B, ctx context.Context, st blob.Store, head ledger.BlobID, ckey crypto.PrivKey, hkey *seal.Key) (fold, total time.Duration) {
	b.Helper()
	// Read the chain outside the timing: the coordinator holds it in memory.
	var cs []ledger.SignedCommitment
	var job *ledger.SignedJob
	for id := head; ; {
		raw, err := st.Get(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		j, c, err := ledger.Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		if j != nil {
			job = j
			break
		}
		cs = append(cs, *c)
		id = c.C.Prev
	}
	slices.Reverse(cs)
	global, err := st.Get(ctx, job.Job.InitialModel) // the coordinator has it cached
	if err != nil {
		b.Fatal(err)
	}
	open := func(ctx context.Context, s *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
		blob, err := st.Get(ctx, s.Sub.Blob)
		if err != nil {
			return nil, ledger.ReasonBlobMissing, nil
		}
		return round.OpenSealed(&job.Job, s, blob, coordinator.RecipientName, hkey)
	}
	var stateID ledger.BlobID
	for _, sc := range cs {
		c := sc.C
		t0 := time.Now()
		var state []byte
		if stateID != (ledger.BlobID{}) {
			if state, err = st.Get(ctx, stateID); err != nil {
				b.Fatal(err)
			}
		}
		var subs []ledger.SignedSubmission
		for _, r := range c.Submissions {
			if r.Status == ledger.StatusAccepted || r.Reason == "update blob unavailable" || r.Reason == "update does not open or decode" ||
				r.Reason == "update hash mismatch" || r.Reason == "wrong shape" || r.Reason == "non-finite values" || r.Reason == "norm above bound" {
				subs = append(subs, r.Signed)
			}
		}
		out, err := round.Fold(ctx, round.FoldInput{Job: &job.Job, Round: c.Round, Global: global, State: state, NoiseSeed: c.NoiseSeed, Subs: subs}, open)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if out.Status == ledger.StatusOK {
			if ledger.Sum(out.Model) != c.OutputModelHash {
				b.Fatalf("round %d: re-produced model differs from the committed one", c.Round)
			}
			if _, _, err := st.Put(ctx, out.Model, 0); err != nil {
				b.Fatal(err)
			}
			if len(out.State) > 0 {
				if stateID, _, err = st.Put(ctx, out.State, 0); err != nil {
					b.Fatal(err)
				}
			}
			global = out.Model
		}
		s, err := ledger.SignCommitment(ckey, c)
		if err != nil {
			b.Fatal(err)
		}
		rec, err := ledger.EncodeCommitment(s)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := st.Put(ctx, rec, 0); err != nil {
			b.Fatal(err)
		}
		fold += t1.Sub(t0)
		total += time.Since(t0)
	}
	return fold, total
}

// testAuditReceiptsMirrorCore feeds a round.Machine every kind of
// submission it rejects at receipt, commits round 1 with the machine's
// verdicts (re-signed as the coordinator), and requires the audit to accept
// exactly the reasons the machine gave: the record verifies as it is, and
// changing any rejection's reason to another one fails the round. The
// record keeps the arrival order, so timing claims (late, round not open)
// follow from the record too and are no longer taken on trust.
func testAuditReceiptsMirrorCore(t *testing.T, f *chainFixture) {
	m := f.store()
	jobBlob, recs := m.walk(t, f.res.Head)
	sj, _, err := ledger.Decode(m.blobs[jobBlob])
	if err != nil {
		t.Fatal(err)
	}
	c1 := recs[0].sc.C
	keys := map[string]crypto.PrivKey{}
	for i := 0; i < f.opts.Participants; i++ {
		k := keyFor(f.opts.Seed, "participant-"+strconv.Itoa(i))
		id, _ := peer.IDFromPrivateKey(k)
		keys[id.String()] = k
	}
	core := round.New(&sj.Job, jobBlob, func(id ledger.BlobID, cert []byte) error { return blob.VerifyCert(f.res.Committee, id, cert) })
	step := func(ev round.Event) ledger.Reason {
		t.Helper()
		reason, err := core.Apply(ev)
		if err != nil {
			t.Fatal(err)
		}
		return reason
	}
	for _, p := range c1.Candidates {
		step(round.Event{Kind: round.EvRegister, Peer: p, NumExamples: 10})
	}
	step(round.Event{Kind: round.EvStartRound, Round: 1, Candidates: c1.Candidates})
	if !slices.Equal(core.Cohort(), c1.Cohort) {
		t.Fatalf("the machine draws cohort %v, the chain has %v", core.Cohort(), c1.Cohort)
	}
	sign := func(s ledger.Submission, cert []byte) *ledger.SignedSubmission {
		sig, err := ledger.SignSubmission(keys[s.Participant], s)
		if err != nil {
			t.Fatal(err)
		}
		return &ledger.SignedSubmission{Sub: s, Sig: sig, Cert: cert}
	}
	submit := func(s *ledger.SignedSubmission) ledger.Reason {
		return step(round.Event{Kind: round.EvSubmit, Peer: s.Sub.Participant, Sub: s})
	}
	var inCohortIdle, outsider string // a cohort member that did not submit; a candidate outside the cohort
	submitted := map[string]bool{}
	for _, r := range c1.Submissions {
		submitted[r.Signed.Sub.Participant] = true
	}
	for _, p := range c1.Candidates {
		switch in := slices.Contains(c1.Cohort, p); {
		case in && !submitted[p]:
			inCohortIdle = p
		case !in:
			outsider = p
		}
	}
	if inCohortIdle == "" || outsider == "" {
		t.Fatalf("round 1 of the fixture needs an idle cohort member and an outsider (cohort %v, submitted %v)", c1.Cohort, submitted)
	}
	if c1.Opened != 0 {
		t.Fatalf("round 1 of the fixture has %d receipts before it opened", c1.Opened)
	}
	// The real submissions first, in their arrival order: all accepted.
	real := slices.Clone(c1.Submissions)
	slices.SortFunc(real, func(a, b ledger.SubmissionRecord) int { return int(a.Arrival) - int(b.Arrival) })
	for _, r := range real {
		s := r.Signed
		if reason := submit(&s); reason != "" {
			t.Fatalf("the machine rejects a submission the chain accepted: %s", reason)
		}
	}
	good := c1.Submissions[0].Signed
	base := ledger.Submission{Job: good.Sub.Job, Round: 1, Participant: inCohortIdle, Blob: good.Sub.Blob, UpdateHash: good.Sub.UpdateHash, NumExamples: 7}
	with := func(mod func(s *ledger.Submission)) ledger.Submission { s := base; mod(&s); return s }
	badSig := *sign(base, good.Cert)
	badSig.Sig = flip(badSig.Sig, 3)
	dup := good
	for _, s := range []*ledger.SignedSubmission{
		&badSig,
		sign(with(func(s *ledger.Submission) { s.Job = flipHash(s.Job) }), good.Cert),
		sign(with(func(s *ledger.Submission) { s.Round = 0 }), good.Cert),
		sign(with(func(s *ledger.Submission) { s.Round = 2 }), good.Cert),
		&dup,
		sign(with(func(s *ledger.Submission) { s.Participant = outsider }), good.Cert),
		sign(with(func(s *ledger.Submission) { s.NumExamples = 0 }), good.Cert),
		sign(with(func(s *ledger.Submission) { s.Blob = c1.OutputModel }), good.Cert), // the certificate is for another blob
	} {
		if submit(s) == "" {
			t.Fatalf("the machine accepted a bad submission %+v", s.Sub)
		}
	}
	step(round.Event{Kind: round.EvClose, Round: 1})
	if submit(sign(base, good.Cert)) != ledger.ReasonLate {
		t.Fatal("the machine did not reject a submission after closing as late")
	}
	// The commitment the machine builds for round 1 from the chain's own
	// fold output, with these receipts in it.
	var fold []ledger.SubmissionRecord
	for _, r := range c1.Submissions {
		if r.SeenByFold() {
			fold = append(fold, r)
		}
	}
	out := &round.FoldOutput{Records: fold, Status: c1.Status, Reason: c1.Reason, Model: m.blobs[c1.OutputModel]}
	if !c1.StateHash.IsZero() {
		out.State = m.blobs[c1.StateBlob]
	}
	built, err := core.Commitment(&round.FoldResult{Round: 1, Out: out, OutputModel: c1.OutputModel, StateBlob: c1.StateBlob, NoiseSeed: c1.NoiseSeed, Metrics: c1.Metrics})
	if err != nil {
		t.Fatal(err)
	}
	rejected := slices.Clone(built.Submissions[len(fold):])
	var reasons []ledger.Reason
	for _, r := range rejected {
		reasons = append(reasons, r.Reason)
	}
	t.Logf("the machine's rejections: %q", reasons)
	// The late one belongs to round 2's record: it arrived after round 1 closed.
	if len(rejected) != 8 {
		t.Fatalf("the machine recorded %d rejections in round 1, want 8", len(rejected))
	}

	coord := keyFor(f.opts.Seed, "coordinator")
	commit := func(subs []ledger.SubmissionRecord) ledger.BlobID {
		c := clone(built)
		c.Submissions = append(slices.Clone(built.Submissions[:len(fold)]), subs...)
		sc := recs[0].sc
		sc.C = c
		return m.store(t, jobBlob, []ledger.SignedCommitment{sc}, 0, coord)
	}
	if rep := m.audit(t, commit(rejected)); rep.Verdict != audit.VerdictVerified {
		t.Fatalf("round 1 with the machine's rejections does not verify: %v", rep.Err())
	}
	all := []ledger.Reason{ledger.ReasonBadSig, ledger.ReasonWrongJob, ledger.ReasonReplayed, ledger.ReasonFuture,
		ledger.ReasonLate, ledger.ReasonDuplicate, ledger.ReasonNotInCohort, ledger.ReasonNoExamples, ledger.ReasonBadCert}
	for i := range rejected {
		for _, other := range all {
			if other == rejected[i].Reason {
				continue
			}
			subs := slices.Clone(rejected)
			subs[i].Reason = other
			rep := m.audit(t, commit(subs))
			if rep.Verdict != audit.VerdictFailed || rep.Failure.Round != 1 || rep.Failure.Check != audit.CheckReceipt {
				t.Errorf("rejection %q recorded as %q: verdict %s %+v, want a receipt failure in round 1", rejected[i].Reason, other, rep.Verdict, rep.Failure)
			}
		}
	}
}
