package transport

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floe-fl/floe/atomicfile"
)

// TestKeyModeWarning: a key file with group or other permission bits is
// loaded with one warning per path; a 0600 file loads silently.
func TestKeyModeWarning(t *testing.T) {
	var out bytes.Buffer
	t.Cleanup(atomicfile.SetWarningOutput(&out))
	dir := t.TempDir()
	private, shared := filepath.Join(dir, "private.key"), filepath.Join(dir, "shared.key")
	for _, p := range []string{private, shared} {
		if _, err := LoadOrCreateKey(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(shared, 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		for _, p := range []string{private, shared} {
			if _, err := LoadOrCreateKey(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := strings.Count(out.String(), "\n"); got != 1 || !strings.Contains(out.String(), shared) || !strings.Contains(out.String(), "0644") {
		t.Fatalf("warnings:\n%s\nwant one line naming %s and its mode 0644", out.String(), shared)
	}
}
