package p2p

import (
	"os"
	"strings"
	"testing"

	"github.com/floe-fl/floe/blob"
)

// TestDocStatesFormat keeps doc.go in step with the constants it documents.
func TestDocStatesFormat(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{sliverMagic, blob.AckDomain, "Callers", "On-disk format", "# Wire"} {
		if !strings.Contains(string(b), s) {
			t.Errorf("doc.go does not mention %q", s)
		}
	}
}
