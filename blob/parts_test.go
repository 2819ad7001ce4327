package blob

import (
	"bytes"
	"io"
	"testing"
)

// TestPartsReadAt: Parts reads as the concatenation of its slices at any
// offset and length, with io.EOF past the end.
func TestPartsReadAt(t *testing.T) {
	ps := Parts{[]byte("ab"), nil, []byte("cdefg"), []byte("h")}
	all := []byte("abcdefgh")
	if ps.Size() != int64(len(all)) {
		t.Fatalf("size %d", ps.Size())
	}
	for off := 0; off <= len(all); off++ {
		for n := 0; n <= len(all)+2; n++ {
			b := make([]byte, n)
			got, err := ps.ReadAt(b, int64(off))
			want := min(n, len(all)-off)
			if got != want || !bytes.Equal(b[:got], all[off:off+want]) {
				t.Fatalf("ReadAt(%d, %d) = %d %q", n, off, got, b[:got])
			}
			if (want < n) != (err == io.EOF) {
				t.Fatalf("ReadAt(%d, %d): err %v", n, off, err)
			}
		}
	}
	if _, err := ps.ReadAt(make([]byte, 1), -1); err == nil {
		t.Fatal("negative offset read")
	}
}
