package walrus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/clock"
)

// Defaults.
const (
	// DefaultEpochs is how many storage epochs a blob kept forever
	// (lifetime 0) is bought for: 53, the most Walrus Mainnet sells ahead.
	DefaultEpochs = 53
	// DefaultEpochDuration is a Walrus Mainnet epoch (Testnet's is a day).
	DefaultEpochDuration = 14 * 24 * time.Hour
	// DefaultPartSize is the upload cap of public publishers and
	// aggregators: 10 MiB.
	DefaultPartSize = 10 << 20
	// DefaultMaxBlobSize bounds what Get reads: 4 GiB.
	DefaultMaxBlobSize = 4 << 30
	// DefaultAttempts bounds the tries of one HTTP request.
	DefaultAttempts = 6
	// DefaultBackoff is the wait after the first failed try; it doubles
	// after each, up to DefaultBackoffMax.
	DefaultBackoff    = 250 * time.Millisecond
	DefaultBackoffMax = 8 * time.Second
	// DefaultReadGrace is how long after its own put a Store reads a 404
	// as "not propagated yet" and retries.
	DefaultReadGrace = 30 * time.Second
	// DefaultAttemptTimeout bounds one HTTP try.
	DefaultAttemptTimeout = 5 * time.Minute
	// knownMax bounds the blobs a Store remembers it put.
	knownMax = 1 << 16
)

// ErrNotFound reports a blob the aggregator does not serve. It wraps
// blob.ErrNotEnoughSlivers, as floe's own committee reports an unreadable
// blob.
var ErrNotFound = fmt.Errorf("walrus: blob not found (%w)", blob.ErrNotEnoughSlivers)

// ErrCorrupt reports bytes that do not match floe's hash of them: the
// aggregator (or a cache before it) returned other bytes than were stored.
var ErrCorrupt = errors.New("walrus: aggregator returned bytes that do not match their hash")

// ErrInvalid reports a publisher answer "markedInvalid": Walrus marked the
// blob invalid (its encoding was inconsistent).
var ErrInvalid = errors.New("walrus: blob marked invalid")

// HTTPError is a publisher or aggregator answer that is not a success.
type HTTPError struct {
	Op     string // "put" or "get"
	Status int    // HTTP status; 0 for an "error" answer in a 200
	Msg    string // the answer's error message, if any
}

func (e *HTTPError) Error() string {
	if e.Msg == "" {
		return fmt.Sprintf("walrus: %s: HTTP %d", e.Op, e.Status)
	}
	return fmt.Sprintf("walrus: %s: HTTP %d: %s", e.Op, e.Status, e.Msg)
}

type config struct {
	epochs         int
	epochDuration  time.Duration
	partSize       int
	maxBlobSize    int64
	attempts       int
	backoff        time.Duration
	backoffMax     time.Duration
	readGrace      time.Duration
	attemptTimeout time.Duration
	client         *http.Client
	clock          clock.Clock
	sleep          func(context.Context, time.Duration) error
}

// Option configures New.
type Option func(*config) error

// WithEpochs sets the storage epochs bought for a blob kept forever
// (lifetime 0); at least 1 (default DefaultEpochs).
func WithEpochs(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("walrus: epochs %d, want at least 1", n)
		}
		c.epochs = n
		return nil
	}
}

// WithEpochDuration sets the network's epoch length, which turns a Put's
// lifetime into epochs (default DefaultEpochDuration).
func WithEpochDuration(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("walrus: epoch duration %v, want > 0", d)
		}
		c.epochDuration = d
		return nil
	}
}

// WithPartSize sets the publisher's upload cap: larger blobs are split into
// parts of this size under a manifest (default DefaultPartSize, at least
// 1 KiB).
func WithPartSize(n int) Option {
	return func(c *config) error {
		if n < 1<<10 {
			return fmt.Errorf("walrus: part size %d, want at least 1024", n)
		}
		c.partSize = n
		return nil
	}
}

// WithMaxBlobSize bounds the bytes Put accepts and Get reads (default
// DefaultMaxBlobSize).
func WithMaxBlobSize(n int64) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("walrus: max blob size %d, want at least 1", n)
		}
		c.maxBlobSize = n
		return nil
	}
}

// WithRetry sets the tries of one request (at least 1) and the backoff:
// first wait, doubling up to max (defaults DefaultAttempts,
// DefaultBackoff, DefaultBackoffMax). HTTP 429, 5xx and broken connections
// are retried; a Retry-After header is honoured up to max.
func WithRetry(attempts int, first, max time.Duration) Option {
	return func(c *config) error {
		if attempts < 1 || first < 0 || max < first {
			return fmt.Errorf("walrus: retry %d tries, backoff %v to %v: want tries >= 1 and 0 <= first <= max", attempts, first, max)
		}
		c.attempts, c.backoff, c.backoffMax = attempts, first, max
		return nil
	}
}

// WithReadGrace sets how long after this Store put a blob a 404 for it is
// retried (default DefaultReadGrace; 0: never).
func WithReadGrace(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("walrus: read grace %v, want >= 0", d)
		}
		c.readGrace = d
		return nil
	}
}

// WithAttemptTimeout bounds one HTTP try; a try that times out is retried
// (default DefaultAttemptTimeout).
func WithAttemptTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("walrus: attempt timeout %v, want > 0", d)
		}
		c.attemptTimeout = d
		return nil
	}
}

// WithHTTPClient sets the HTTP client (default: a client of its own).
func WithHTTPClient(h *http.Client) Option {
	return func(c *config) error {
		if h == nil {
			return errors.New("walrus: nil HTTP client")
		}
		c.client = h
		return nil
	}
}

// WithClock sets the clock the read grace is measured by and, unless
// WithSleep is given, backoff waits on (default clock.Real).
func WithClock(clk clock.Clock) Option {
	return func(c *config) error {
		if clk == nil {
			return errors.New("walrus: nil clock")
		}
		c.clock = clk
		return nil
	}
}

// WithSleep sets how the Store waits between tries: sleep returns after d,
// or earlier with ctx's error. Tests pass one that does not wait.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *config) error {
		if sleep == nil {
			return errors.New("walrus: nil sleep")
		}
		c.sleep = sleep
		return nil
	}
}

// Store is a blob.Store on a Walrus publisher and aggregator. See the
// package documentation for its IDs, certificates and checks.
type Store struct {
	publisher, aggregator string // base URLs, no trailing slash
	cfg                   config

	mu    sync.Mutex // guards the following
	known map[[32]byte]putInfo
	order [][32]byte // known's keys, oldest first
}

// putInfo is what a Store remembers of a blob it put.
type putInfo struct {
	sum      [32]byte
	length   uint64
	manifest bool
	at       time.Time
}

var _ blob.Store = (*Store)(nil)

// New returns a Store that writes through the publisher and reads through
// the aggregator (base URLs such as https://publisher.example.org; they may
// be the same daemon).
func New(publisher, aggregator string, opts ...Option) (*Store, error) {
	cfg := config{
		epochs: DefaultEpochs, epochDuration: DefaultEpochDuration, partSize: DefaultPartSize,
		maxBlobSize: DefaultMaxBlobSize, attempts: DefaultAttempts, backoff: DefaultBackoff,
		backoffMax: DefaultBackoffMax, readGrace: DefaultReadGrace, attemptTimeout: DefaultAttemptTimeout,
		client: &http.Client{}, clock: clock.Real{},
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.sleep == nil {
		clk := cfg.clock
		cfg.sleep = func(ctx context.Context, d time.Duration) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-clk.After(d):
				return nil
			}
		}
	}
	s := &Store{cfg: cfg, known: map[[32]byte]putInfo{}}
	var err error
	if s.publisher, err = baseURL("publisher", publisher); err != nil {
		return nil, err
	}
	if s.aggregator, err = baseURL("aggregator", aggregator); err != nil {
		return nil, err
	}
	return s, nil
}

func baseURL(what, s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("walrus: %s URL %q: want http(s)://host[:port][/path]", what, s)
	}
	return strings.TrimRight(s, "/"), nil
}

// Publisher and Aggregator return the base URLs.
func (s *Store) Publisher() string  { return s.publisher }
func (s *Store) Aggregator() string { return s.aggregator }

// epochsFor turns a Put lifetime into storage epochs.
func (s *Store) epochsFor(lifetime time.Duration) int {
	if lifetime == 0 {
		return s.cfg.epochs
	}
	return int((lifetime + s.cfg.epochDuration - 1) / s.cfg.epochDuration)
}

// Put stores data for lifetime (0: forever, which Walrus sells as
// WithEpochs epochs; otherwise at least 1ms, rounded up to whole epochs)
// and returns its ID (the Walrus blob ID of the bytes, or of their
// manifest) and its certificate.
func (s *Store) Put(ctx context.Context, data []byte, lifetime time.Duration) ([32]byte, []byte, error) {
	return s.PutFrom(ctx, bytes.NewReader(data), int64(len(data)), lifetime)
}

// PutFrom is Put of the size bytes of r, streamed: it reads r once to hash
// it, then sends each part straight from r, holding O(1) bytes whatever the
// size (blob.ReaderAtPutter). The ID and certificate are Put's for the same
// bytes.
func (s *Store) PutFrom(ctx context.Context, r io.ReaderAt, size int64, lifetime time.Duration) ([32]byte, []byte, error) {
	if err := ctx.Err(); err != nil {
		return [32]byte{}, nil, err
	}
	if lifetime < 0 || (lifetime != 0 && lifetime < time.Millisecond) {
		return [32]byte{}, nil, fmt.Errorf("walrus: lifetime %v, want 0 (forever) or at least 1ms", lifetime)
	}
	if size < 0 {
		return [32]byte{}, nil, fmt.Errorf("walrus: negative size %d", size)
	}
	if size > s.cfg.maxBlobSize {
		return [32]byte{}, nil, fmt.Errorf("walrus: blob of %d bytes above the %d-byte limit", size, s.cfg.maxBlobSize)
	}
	epochs, permanent := s.epochsFor(lifetime), lifetime == 0
	// One pass hashes the whole and each part.
	partSize := int64(s.cfg.partSize)
	h := sha256.New()
	var partSums [][32]byte
	for off := int64(0); off < size; off += partSize {
		ph := sha256.New()
		if _, err := io.Copy(io.MultiWriter(h, ph), io.NewSectionReader(r, off, min(partSize, size-off))); err != nil {
			return [32]byte{}, nil, fmt.Errorf("walrus: read blob: %w", err)
		}
		partSums = append(partSums, [32]byte(ph.Sum(nil)))
	}
	var sum [32]byte
	h.Sum(sum[:0])
	head := make([]byte, min(size, int64(len(ManifestMagic))))
	if n, err := r.ReadAt(head, 0); n < len(head) { // a whole read may come with io.EOF
		return [32]byte{}, nil, fmt.Errorf("walrus: read blob: %w", err)
	}
	cert := Certificate{Version: CertVersion, SHA256: sum[:], Length: uint64(size)}
	var (
		id  [32]byte
		err error
	)
	if size == 0 || size > partSize || bytes.HasPrefix(head, []byte(ManifestMagic)) {
		cert.Manifest = true
		m := Manifest{Version: ManifestVersion, Length: uint64(size), SHA256: sum}
		if size > 0 {
			m.PartSize = uint64(min(size, partSize))
		}
		for i, off := 0, int64(0); off < size; i, off = i+1, off+partSize {
			pid, err := s.putRaw(ctx, r, off, min(partSize, size-off), epochs, permanent)
			if err != nil {
				return [32]byte{}, nil, err
			}
			m.Parts = append(m.Parts, Part{ID: pid, SHA256: partSums[i]})
		}
		mb, err := m.Marshal()
		if err != nil {
			return [32]byte{}, nil, err
		}
		if len(mb) > s.cfg.partSize {
			return [32]byte{}, nil, fmt.Errorf("walrus: manifest of %d parts is %d bytes, above the %d-byte part size", len(m.Parts), len(mb), s.cfg.partSize)
		}
		if id, err = s.putRaw(ctx, bytes.NewReader(mb), 0, int64(len(mb)), epochs, permanent); err != nil {
			return [32]byte{}, nil, err
		}
	} else if id, err = s.putRaw(ctx, r, 0, size, epochs, permanent); err != nil {
		return [32]byte{}, nil, err
	}
	cb, err := cert.Marshal()
	if err != nil {
		return [32]byte{}, nil, err
	}
	s.remember(id, putInfo{sum: sum, length: cert.Length, manifest: cert.Manifest, at: s.cfg.clock.Now()})
	return id, cb, nil
}

// remember records a blob this Store put, forgetting the oldest beyond
// knownMax.
func (s *Store) remember(id [32]byte, p putInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.known[id]; !ok {
		s.order = append(s.order, id)
	}
	s.known[id] = p
	for len(s.order) > knownMax {
		delete(s.known, s.order[0])
		s.order = s.order[1:]
	}
}

func (s *Store) lookup(id [32]byte) (putInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.known[id]
	return p, ok
}

// Get reads the blob id from the aggregator. A manifest's parts are each
// checked against their hash and the whole against the manifest's; a blob
// this Store put is checked against the hash it put. Bytes that fail a
// check are an error wrapping ErrCorrupt, never data.
func (s *Store) Get(ctx context.Context, id [32]byte) ([]byte, error) {
	var out []byte
	_, err := s.read(ctx, id, func(m *Manifest) { out = make([]byte, 0, m.Length) }, func(b []byte, _ int64) error {
		if out == nil {
			out = b // a blob of one part
		} else {
			out = append(out, b...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// GetTo reads blob id into bytes [0, length) of w and returns the length,
// holding one part at a time (WithPartSize) whatever the blob's size, with
// Get's checks: each part is checked before it is written, the whole after.
// An error leaves arbitrary bytes in w: GetTo never reports success for
// data that is not the blob's.
func (s *Store) GetTo(ctx context.Context, id [32]byte, w io.WriterAt) (int64, error) {
	return s.read(ctx, id, nil, func(b []byte, off int64) error {
		if _, err := w.WriteAt(b, off); err != nil {
			return fmt.Errorf("walrus: write blob %s: %w", blob.ID(id), err)
		}
		return nil
	})
}

// read reads blob id and hands its bytes to put, in order, a checked part
// at a time with its offset (a blob of one part: once); start, when not
// nil, first sees the manifest of a blob stored in parts. It returns the
// length once the whole is checked as Get says.
func (s *Store) read(ctx context.Context, id [32]byte, start func(*Manifest), put func(b []byte, off int64) error) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	p, known := s.lookup(id)
	var graceUntil time.Time
	if known {
		graceUntil = p.at.Add(s.cfg.readGrace)
	}
	b, err := s.getRaw(ctx, id, s.cfg.maxBlobSize, graceUntil)
	if err != nil {
		return 0, err
	}
	h := sha256.New()
	length := int64(len(b))
	manifest := bytes.HasPrefix(b, []byte(ManifestMagic))
	if manifest {
		m, err := ParseManifest(b)
		if err != nil {
			return 0, fmt.Errorf("walrus: blob %s: %w", blob.ID(id), err)
		}
		if m.Length > uint64(s.cfg.maxBlobSize) {
			return 0, fmt.Errorf("walrus: blob %s of %d bytes above the %d-byte limit", blob.ID(id), m.Length, s.cfg.maxBlobSize)
		}
		if start != nil {
			start(m)
		}
		var off int64
		for i, part := range m.Parts {
			want := m.partLen(i)
			b, err := s.getRaw(ctx, part.ID, int64(want), graceUntil)
			if err != nil {
				return 0, fmt.Errorf("walrus: blob %s part %d of %d: %w", blob.ID(id), i, len(m.Parts), err)
			}
			if uint64(len(b)) != want || sha256.Sum256(b) != part.SHA256 {
				return 0, fmt.Errorf("%w: blob %s part %d of %d", ErrCorrupt, blob.ID(id), i, len(m.Parts))
			}
			h.Write(b)
			if err := put(b, off); err != nil {
				return 0, err
			}
			off += int64(len(b))
		}
		if [32]byte(h.Sum(nil)) != m.SHA256 {
			return 0, fmt.Errorf("%w: blob %s: its parts do not make the manifest's hash", ErrCorrupt, blob.ID(id))
		}
		length = off
	} else {
		h.Write(b)
		if err := put(b, 0); err != nil {
			return 0, err
		}
	}
	if known && (manifest != p.manifest || uint64(length) != p.length || [32]byte(h.Sum(nil)) != p.sum) {
		return 0, fmt.Errorf("%w: blob %s is not the %d bytes put", ErrCorrupt, blob.ID(id), p.length)
	}
	return length, nil
}

// VerifyCert checks that cert is a well-formed certificate and, when this
// Store put the blob id, that it states the hash, length and form of the
// bytes put. It cannot prove that Walrus certified the blob (see the
// package documentation).
func (s *Store) VerifyCert(id [32]byte, cert []byte) error {
	if id == ([32]byte{}) {
		return fmt.Errorf("%w: zero blob ID", ErrBadCertificate)
	}
	c, err := ParseCertificate(cert)
	if err != nil {
		return err
	}
	if c.Length > uint64(s.cfg.maxBlobSize) {
		return fmt.Errorf("%w: %d bytes, above the %d-byte limit", ErrBadCertificate, c.Length, s.cfg.maxBlobSize)
	}
	if p, ok := s.lookup(id); ok && (!bytes.Equal(c.SHA256, p.sum[:]) || c.Length != p.length || c.Manifest != p.manifest) {
		return fmt.Errorf("%w: it does not state the blob %s put", ErrBadCertificate, blob.ID(id))
	}
	return nil
}

// IDString returns id's text form, which is also Walrus's: URL-safe
// unpadded base64.
func IDString(id [32]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }
