package atomicfile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWarnIfShared: a secret file others can read is warned about once per
// path, naming what it is and its mode; a 0600 file, a missing one and a
// directory are not.
func TestWarnIfShared(t *testing.T) {
	var out bytes.Buffer
	t.Cleanup(SetWarningOutput(&out))
	dir := t.TempDir()
	private, shared := filepath.Join(dir, "private"), filepath.Join(dir, "shared")
	for p, mode := range map[string]os.FileMode{private: 0o600, shared: 0o604} {
		if err := os.WriteFile(p, []byte("k"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		for _, p := range []string{private, shared, filepath.Join(dir, "missing"), dir} {
			WarnIfShared(p, "test key")
		}
	}
	if got := out.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, "test key file "+shared) || !strings.Contains(got, "0604") {
		t.Fatalf("warnings:\n%s\nwant one line naming the test key file %s and mode 0604", got, shared)
	}
}
