package walrus_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/blobtest"
	"github.com/floe-fl/floe/blob/walrus"
	"github.com/floe-fl/floe/blob/walrus/walrustest"
	"github.com/floe-fl/floe/clock"
	"github.com/floe-fl/floe/ledger"
)

// sleeper records the waits of a Store and moves a fake clock instead of
// waiting.
type sleeper struct {
	clk *clock.Fake
	mu  sync.Mutex
	got []time.Duration
}

func (s *sleeper) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	s.got = append(s.got, d)
	s.mu.Unlock()
	s.clk.Advance(d)
	return nil
}

func (s *sleeper) waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration{}, s.got...)
}

func newServer(t *testing.T) *walrustest.Server {
	srv := walrustest.New()
	t.Cleanup(srv.Close)
	return srv
}

// newStore returns a Store on srv that never waits for real.
func newStore(t *testing.T, srv *walrustest.Server, opts ...walrus.Option) (*walrus.Store, *sleeper) {
	t.Helper()
	sl := &sleeper{clk: clock.NewFake(time.Unix(1_700_000_000, 0))}
	opts = append([]walrus.Option{walrus.WithClock(sl.clk), walrus.WithSleep(sl.sleep)}, opts...)
	s, err := walrus.New(srv.URL, srv.URL+"/", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, sl
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func data(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 9))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestConformance(t *testing.T) {
	for _, part := range []int{walrus.DefaultPartSize, 1 << 20} {
		t.Run("part="+strings.TrimSuffix(time.Duration(part).String(), "ns"), func(t *testing.T) {
			blobtest.Run(t, func(t *testing.T) blob.Store {
				s, _ := newStore(t, newServer(t), walrus.WithPartSize(part))
				return s
			})
		})
	}
}

func TestManifest(t *testing.T) {
	srv := newServer(t)
	s, _ := newStore(t, srv, walrus.WithPartSize(1024))
	b := data(5000, 1)
	id, cert, err := s.Put(ctx(t), b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.Len(); n != 6 {
		t.Fatalf("server holds %d blobs, want 5 parts and a manifest", n)
	}
	c, err := walrus.ParseCertificate(cert)
	if err != nil || !c.Manifest || c.Length != 5000 {
		t.Fatalf("certificate %+v, %v", c, err)
	}
	// Any reader with the ID alone gets the bytes, checked part by part.
	other, _ := newStore(t, srv)
	got, err := other.Get(ctx(t), id)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("get by another store: %v", err)
	}
	// The manifest is the documented format.
	m := walrus.Manifest{Version: 1, Length: 5000, SHA256: sha256.Sum256(b), PartSize: 1024}
	for off := 0; off < len(b); off += 1024 {
		p := b[off:min(off+1024, len(b))]
		m.Parts = append(m.Parts, walrus.Part{ID: walrustest.BlobID(p), SHA256: sha256.Sum256(p)})
	}
	mb, _ := m.Marshal()
	if id != walrustest.BlobID(mb) {
		t.Fatal("the ID is not the Walrus blob ID of the documented manifest")
	}
	// A part the aggregator alters is caught by a store that never saw the put.
	srv.Corrupt(m.Parts[2].ID)
	if _, err := other.Get(ctx(t), id); !errors.Is(err, walrus.ErrCorrupt) {
		t.Fatalf("corrupted part: got %v, want ErrCorrupt", err)
	}
	if _, err := s.Get(ctx(t), id); !errors.Is(err, walrus.ErrCorrupt) {
		t.Fatalf("corrupted part, own put: got %v, want ErrCorrupt", err)
	}
}

// TestMagicPrefix checks that a blob that looks like a manifest is stored
// under one, so that no reader takes it for one.
func TestMagicPrefix(t *testing.T) {
	srv := newServer(t)
	s, _ := newStore(t, srv)
	m := walrus.Manifest{Version: 1}
	fake, _ := m.Marshal() // a valid manifest of the empty blob
	id, cert, err := s.Put(ctx(t), fake, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := walrus.ParseCertificate(cert); !c.Manifest {
		t.Fatal("a blob starting with the manifest magic was stored bare")
	}
	other, _ := newStore(t, srv)
	if got, err := other.Get(ctx(t), id); err != nil || !bytes.Equal(got, fake) {
		t.Fatalf("get: %q, %v", got, err)
	}
}

func TestWrongBytes(t *testing.T) {
	srv := newServer(t)
	s, _ := newStore(t, srv)
	for _, n := range []int{1, 100, 64 << 10} {
		id, _, err := s.Put(ctx(t), data(n, 2), 0)
		if err != nil {
			t.Fatal(err)
		}
		srv.Corrupt(id)
		if got, err := s.Get(ctx(t), id); !errors.Is(err, walrus.ErrCorrupt) || got != nil {
			t.Fatalf("size %d: aggregator's wrong bytes: got %d bytes, %v; want ErrCorrupt", n, len(got), err)
		}
	}
}

func TestRetries(t *testing.T) {
	srv := newServer(t)
	s, sl := newStore(t, srv, walrus.WithRetry(4, 100*time.Millisecond, 2*time.Second))
	srv.FailPuts(http.StatusServiceUnavailable, 2)
	srv.FailPuts(http.StatusTooManyRequests, 1) // answers Retry-After: 1
	id, _, err := s.Put(ctx(t), []byte("retried"), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, time.Second}
	if got := sl.waits(); !slicesEqual(got, want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	srv.FailGets(http.StatusInternalServerError, 3)
	if got, err := s.Get(ctx(t), id); err != nil || string(got) != "retried" {
		t.Fatalf("get after 3 failures: %q, %v", got, err)
	}
	// Bounded: the fourth failure is the last.
	srv.FailGets(http.StatusBadGateway, 4)
	var he *walrus.HTTPError
	if _, err := s.Get(ctx(t), id); !errors.As(err, &he) || he.Status != http.StatusBadGateway {
		t.Fatalf("get after 4 failures: %v, want HTTP 502", err)
	}
	// Other statuses are not retried.
	before := srv.Puts()
	srv.FailPuts(http.StatusBadRequest, 1)
	if _, _, err := s.Put(ctx(t), []byte("x"), 0); !errors.As(err, &he) || he.Status != http.StatusBadRequest {
		t.Fatalf("put answered 400: %v", err)
	}
	if n := srv.Puts() - before; n != 1 {
		t.Fatalf("a 400 was tried %d times", n)
	}
}

func TestDroppedConnections(t *testing.T) {
	srv := newServer(t)
	s, _ := newStore(t, srv)
	srv.Drop(2)
	id, _, err := s.Put(ctx(t), []byte("dropped twice"), 0)
	if err != nil {
		t.Fatal(err)
	}
	srv.Drop(2)
	if got, err := s.Get(ctx(t), id); err != nil || string(got) != "dropped twice" {
		t.Fatalf("get: %q, %v", got, err)
	}
}

func TestSlow(t *testing.T) {
	srv := newServer(t)
	s, _ := newStore(t, srv, walrus.WithAttemptTimeout(50*time.Millisecond))
	srv.Slow(time.Minute, 1) // the first try hangs; the second is answered
	if _, _, err := s.Put(ctx(t), []byte("slow"), 0); err != nil {
		t.Fatal(err)
	}
	// ctx ends a hanging request.
	s2, _ := newStore(t, srv)
	srv.Slow(time.Minute, 100)
	c, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, _, err := s2.Put(c, []byte("never"), 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("put past its ctx: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("put took %v after its ctx ended", d)
	}
	srv.Slow(0, 0)
}

func TestReadAfterCertification(t *testing.T) {
	srv := newServer(t)
	s, sl := newStore(t, srv, walrus.WithReadGrace(10*time.Second))
	srv.Lag(5)
	id, _, err := s.Put(ctx(t), []byte("fresh"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx(t), id); err != nil || string(got) != "fresh" {
		t.Fatalf("get right after the put: %q, %v", got, err)
	}
	if n := len(sl.waits()); n != 5 {
		t.Fatalf("%d retries of the 404s, want 5", n)
	}
	// Another store did not put it: a 404 is final at once.
	id2, _, err := s.Put(ctx(t), []byte("fresh too"), 0)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newStore(t, srv)
	if _, err := other.Get(ctx(t), id2); !errors.Is(err, walrus.ErrNotFound) || !errors.Is(err, blob.ErrNotEnoughSlivers) {
		t.Fatalf("another store's read in the lag: %v, want ErrNotFound", err)
	}
	// Past the grace, the 404 stands.
	srv.Lag(1 << 20)
	id3, _, err := s.Put(ctx(t), []byte("never shows"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx(t), id3); !errors.Is(err, walrus.ErrNotFound) {
		t.Fatalf("get past the grace: %v", err)
	}
}

func TestAnswers(t *testing.T) {
	srv := newServer(t)
	s, _ := newStore(t, srv)
	srv.AnswerNextPut("markedInvalid")
	if _, _, err := s.Put(ctx(t), []byte("a"), 0); !errors.Is(err, walrus.ErrInvalid) {
		t.Fatalf("markedInvalid: %v", err)
	}
	srv.AnswerNextPut("error")
	var he *walrus.HTTPError
	if _, _, err := s.Put(ctx(t), []byte("a"), 0); !errors.As(err, &he) || !strings.Contains(err.Error(), "injected error answer") {
		t.Fatalf("error answer: %v", err)
	}
	// A publisher whose cap is below the part size answers 413.
	srv.MaxUpload(100)
	if _, _, err := s.Put(ctx(t), data(200, 3), 0); !errors.As(err, &he) || he.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("above the publisher's cap: %v", err)
	}
	// With the part size set to the cap, the same blob is split and stored.
	srv.MaxUpload(1024)
	s2, _ := newStore(t, srv, walrus.WithPartSize(1024))
	if _, _, err := s2.Put(ctx(t), data(5000, 3), 0); err != nil {
		t.Fatal(err)
	}
	// More epochs than the network sells is the publisher's 400.
	s3, _ := newStore(t, srv, walrus.WithEpochs(60))
	if _, _, err := s3.Put(ctx(t), []byte("b"), 0); !errors.As(err, &he) || he.Status != http.StatusBadRequest {
		t.Fatalf("60 epochs: %v", err)
	}
}

func TestLifetimeEpochs(t *testing.T) {
	srv := newServer(t)
	s, _ := newStore(t, srv, walrus.WithEpochDuration(24*time.Hour), walrus.WithEpochs(10))
	short, _, err := s.Put(ctx(t), []byte("two days"), 36*time.Hour) // 2 epochs
	if err != nil {
		t.Fatal(err)
	}
	long, _, err := s.Put(ctx(t), []byte("forever"), 0) // 10 epochs
	if err != nil {
		t.Fatal(err)
	}
	srv.AdvanceEpochs(2)
	if _, err := s.Get(ctx(t), short); !errors.Is(err, walrus.ErrNotFound) {
		t.Fatalf("a blob past its epochs: %v", err)
	}
	if _, err := s.Get(ctx(t), long); err != nil {
		t.Fatal(err)
	}
}

func TestCertificates(t *testing.T) {
	srv := newServer(t)
	s, _ := newStore(t, srv)
	id, cert, err := s.Put(ctx(t), data(20<<20, 4), 0) // a manifest
	if err != nil {
		t.Fatal(err)
	}
	if len(cert) > 50 || len(cert) > ledger.MaxCertificateSize(0) {
		t.Fatalf("certificate of %d bytes", len(cert))
	}
	other, _ := newStore(t, srv)
	if err := other.VerifyCert(id, cert); err != nil {
		t.Fatalf("a well-formed certificate from another store: %v", err)
	}
	if other.VerifyCert([32]byte{}, cert) == nil {
		t.Fatal("a certificate verified for the zero ID")
	}
	// Not canonical: the length as a longer integer than needed.
	c, _ := walrus.ParseCertificate(cert)
	small := walrus.Certificate{Version: 1, SHA256: c.SHA256, Length: 5}
	good, _ := small.Marshal()
	bad := bytes.Replace(good, []byte{0x03, 0x05}, []byte{0x03, 0x18, 0x05}, 1)
	if bytes.Equal(bad, good) || other.VerifyCert(id, bad) == nil {
		t.Fatal("a non-canonical certificate verified")
	}
	empty := walrus.Certificate{Version: 1, SHA256: c.SHA256}
	eb, _ := empty.Marshal()
	if other.VerifyCert(id, eb) == nil {
		t.Fatal("a bare empty blob's certificate verified")
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []walrus.Option{
		walrus.WithEpochs(0), walrus.WithEpochDuration(0), walrus.WithPartSize(10), walrus.WithMaxBlobSize(0),
		walrus.WithRetry(0, 0, 0), walrus.WithRetry(3, time.Second, time.Millisecond), walrus.WithReadGrace(-1),
		walrus.WithAttemptTimeout(0), walrus.WithHTTPClient(nil), walrus.WithClock(nil), walrus.WithSleep(nil),
	} {
		if _, err := walrus.New("http://127.0.0.1:1", "http://127.0.0.1:1", o); err == nil {
			t.Error("bad option accepted")
		}
	}
	for _, u := range []string{"", "ftp://x", "http://", "http://x/?a=b", "x"} {
		if _, err := walrus.New(u, "http://127.0.0.1:1"); err == nil {
			t.Errorf("publisher %q accepted", u)
		}
	}
}

// TestDocStatesFormat keeps doc.go in step with the formats it documents.
func TestDocStatesFormat(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{strings.TrimSuffix(walrus.ManifestMagic, "\x00"), "# IDs", "# Integrity", "# Certificates", "# Manifests", "Callers", "10 MiB"} {
		if !strings.Contains(string(b), s) {
			t.Errorf("doc.go does not mention %q", s)
		}
	}
}

func slicesEqual(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestStreamed: PutFrom gives Put's ID and certificate for the same bytes
// (one part, several parts, empty, and a blob that starts with the
// manifest magic), GetTo writes Get's bytes into a file, and a part the
// aggregator alters fails GetTo with ErrCorrupt.
func TestStreamed(t *testing.T) {
	srv := newServer(t)
	s, _ := newStore(t, srv, walrus.WithPartSize(1024))
	fake, _ := (&walrus.Manifest{Version: 1}).Marshal()
	for _, b := range [][]byte{data(5000, 3), data(700, 4), {}, fake} {
		id, cert, err := s.Put(ctx(t), b, 0)
		if err != nil {
			t.Fatal(err)
		}
		sid, scert, err := s.PutFrom(ctx(t), bytes.NewReader(b), int64(len(b)), 0)
		if err != nil || sid != id || !bytes.Equal(scert, cert) {
			t.Fatalf("%d bytes: PutFrom gives another ID or certificate than Put (%v)", len(b), err)
		}
		other, _ := newStore(t, srv)
		f, err := os.Create(filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		n, err := other.GetTo(ctx(t), id, f)
		f.Close()
		got, rerr := os.ReadFile(f.Name())
		if err != nil || rerr != nil || n != int64(len(b)) || !bytes.Equal(got, b) {
			t.Fatalf("%d bytes: GetTo wrote %d bytes (%v %v)", len(b), n, err, rerr)
		}
	}
	b := data(5000, 5)
	id, _, err := s.PutFrom(ctx(t), bytes.NewReader(b), int64(len(b)), 0)
	if err != nil {
		t.Fatal(err)
	}
	srv.Corrupt(walrustest.BlobID(b[2048:3072]))
	other, _ := newStore(t, srv)
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := other.GetTo(ctx(t), id, f); !errors.Is(err, walrus.ErrCorrupt) {
		t.Fatalf("corrupted part: GetTo says %v, want ErrCorrupt", err)
	}
	if _, _, err := s.PutFrom(ctx(t), bytes.NewReader(b), -1, 0); err == nil {
		t.Fatal("a negative size is accepted")
	}
}
