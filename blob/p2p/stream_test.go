package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floe-fl/floe/blob"
	"github.com/klauspost/reedsolomon"
)

// memFile is an in-memory ReadWriterAt.
type memFile struct {
	mu sync.Mutex
	b  []byte
}

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// getToFile reads id with GetTo into a fresh file and returns its bytes.
func getToFile(t *testing.T, ctx context.Context, cl *Client, id blob.ID) ([]byte, error) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := cl.GetTo(ctx, id, f)
	if err != nil {
		return nil, err
	}
	b, rerr := os.ReadFile(f.Name())
	if rerr != nil {
		t.Fatal(rerr)
	}
	if int64(len(b)) != n {
		t.Fatalf("GetTo returned %d, wrote %d bytes", n, len(b))
	}
	return b, nil
}

// TestPutFromGetTo: streamed puts give Put's IDs and read back through both
// Get and GetTo, for blob sizes around sliver and stripe boundaries.
func TestPutFromGetTo(t *testing.T) {
	for _, n := range []int{4, 7} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			c := newCluster(t, n)
			k := c.com.K()
			sw := blob.StreamStripe
			for _, size := range []int{0, 1, k - 1, k*1000 + 1, k * sw, k*sw + 1, k*(2*sw+3) - 1} {
				data := randBytes(uint64(size)+3, size)
				ctx := ctxT(t)
				id, cert, err := c.client.PutFrom(ctx, bytes.NewReader(data), int64(size), WithWaitAll())
				if err != nil {
					t.Fatalf("size %d: put from: %v", size, err)
				}
				want, err := blob.ComputeID(data, n)
				if err != nil || id != want {
					t.Fatalf("size %d: PutFrom ID %s, ComputeID %s (%v)", size, id, want, err)
				}
				if err := cert.Verify(c.com); err != nil || cert.ID != id || len(cert.Acks) != n {
					t.Fatalf("size %d: certificate (%d acks): %v", size, len(cert.Acks), err)
				}
				if got, err := c.client.Get(ctx, id); err != nil || !bytes.Equal(got, data) {
					t.Fatalf("size %d: Get of a streamed put: %v", size, err)
				}
				if got, err := getToFile(t, ctx, c.client, id); err != nil || !bytes.Equal(got, data) {
					t.Fatalf("size %d: GetTo: %v", size, err)
				}
			}
		})
	}
}

// TestPutFromDetached: with a hedge delay of a microsecond the encoder cuts
// members loose at once, so their writers read and encode their own
// stripes; the blob must be the same.
func TestPutFromDetached(t *testing.T) {
	c := newCluster(t, 7, WithHedgeDelay(time.Microsecond))
	data := randBytes(77, 3*(12*blob.StreamStripe)+12345) // 12 stripes a sliver: more than feedDepth
	ctx := ctxT(t)
	id, _, err := c.client.PutFrom(ctx, bytes.NewReader(data), int64(len(data)), WithWaitAll())
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := blob.ComputeID(data, 7); id != want {
		t.Fatalf("ID %s, want %s", id, want)
	}
	for i := range 7 {
		if !c.nodes[i].Has(id, i) {
			t.Fatalf("node %d lacks its sliver", i)
		}
	}
	if got, err := getToFile(t, ctx, c.client, id); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GetTo: %v", err)
	}
}

// failingReader fails every read at or past fail.
type failingReader struct {
	r    io.ReaderAt
	fail int64
}

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.fail {
		return 0, errors.New("disk on fire")
	}
	return f.r.ReadAt(p, off)
}

// TestPutFromReadError: a source that fails, or is shorter than said,
// fails the put; nothing hangs.
func TestPutFromReadError(t *testing.T) {
	c := newCluster(t, 4)
	data := randBytes(8, 2*blob.StreamStripe+5)
	ctx := ctxT(t)
	if _, _, err := c.client.PutFrom(ctx, failingReader{bytes.NewReader(data), int64(len(data)) - 100}, int64(len(data))); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("put from a failing reader: %v", err)
	}
	if _, _, err := c.client.PutFrom(ctx, bytes.NewReader(data), int64(len(data))+1); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("put from a short reader: %v", err)
	}
	if _, _, err := c.client.PutFrom(ctx, bytes.NewReader(data), -1); err == nil {
		t.Fatal("negative size accepted")
	}
}

// TestGetToFallback: with data slivers unreachable, missing or corrupt,
// GetTo rebuilds them from parity slivers (spilled to a temporary file).
func TestGetToFallback(t *testing.T) {
	c := newCluster(t, 7) // k = 3
	data := randBytes(21, 3*(blob.StreamStripe+777)-2)
	ctx := ctxT(t)
	id, _, err := c.client.Put(ctx, data, WithWaitAll())
	if err != nil {
		t.Fatal(err)
	}
	c.stop(0) // unreachable
	if err := os.Remove(c.sliverFile(1, id)); err != nil {
		t.Fatal(err)
	}
	if got, err := getToFile(t, ctx, c.client, id); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GetTo without data slivers 0 and 1: %v", err)
	}
	corruptLastByte(t, c.sliverFile(2, id))
	if got, err := getToFile(t, ctx, c.client, id); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GetTo without any data sliver: %v", err)
	}
	for _, i := range []int{3, 4} {
		c.stop(i)
	}
	if _, err := getToFile(t, ctx, c.client, id); !errors.Is(err, blob.ErrNotEnoughSlivers) {
		t.Fatalf("GetTo with 2 valid slivers of 3: %v", err)
	}
}

func corruptLastByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// inconsistentBlobs are blobs whose slivers verify against their IDs but do
// not form the committed codeword of zero-padded data, for n = 4.
func inconsistentBlobs() map[string]*blob.Slivers {
	out := map[string]*blob.Slivers{}
	x, _ := blob.Encode(randBytes(5, 2*blob.StreamStripe+1999), 4)
	x.Data[3][len(x.Data[3])-1] ^= 1 // parity that is not the data's
	out["wrong parity"] = blob.Commit(x.Encoding, x.Length, x.Data)
	x, _ = blob.Encode(randBytes(6, 2*blob.StreamStripe+1999), 4)
	x.Data[1][len(x.Data[1])-1] = 7 // nonzero padding, parity recomputed
	rs, _ := reedsolomon.New(int(x.Encoding.K), int(x.Encoding.N-x.Encoding.K))
	rs.Encode(x.Data)
	out["nonzero padding"] = blob.Commit(x.Encoding, x.Length, x.Data)
	return out
}

// TestGetToInconsistent: GetTo never returns success for an inconsistently
// encoded blob, whether it reads the data slivers or rebuilds from parity.
func TestGetToInconsistent(t *testing.T) {
	for name, x := range inconsistentBlobs() {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, 4)
			ctx := ctxT(t)
			for i := range 4 {
				if _, err := c.client.storeSliver(ctx, x, i, 0); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := getToFile(t, ctx, c.client, x.ID); !errors.Is(err, blob.ErrInconsistentEncoding) {
				t.Fatalf("GetTo of data slivers: %v, want ErrInconsistentEncoding", err)
			}
			c.stop(1) // the padded data sliver is rebuilt
			if _, err := getToFile(t, ctx, c.client, x.ID); !errors.Is(err, blob.ErrInconsistentEncoding) {
				t.Fatalf("GetTo through parity: %v, want ErrInconsistentEncoding", err)
			}
		})
	}
}
