package blob

import (
	"os"
	"strings"
	"testing"
)

// TestDocStatesFormat keeps doc.go in step with the constants it documents.
func TestDocStatesFormat(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{AckDomain, "URL-safe unpadded base64", "Callers", "Certificate format", "blob/p2p"} {
		if !strings.Contains(string(b), s) {
			t.Errorf("doc.go does not mention %q", s)
		}
	}
}
