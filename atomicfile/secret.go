package atomicfile

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// warnOut receives WarnIfShared's warnings; SetWarningOutput replaces it.
var (
	warnMu  sync.Mutex
	warnOut io.Writer = os.Stderr
	warned            = map[string]bool{}
)

// WarnIfShared prints one warning a process per path (on stderr) when the
// secret file at path, described by what ("identity key", "HPKE key"), is a
// regular file with group or other permission bits: anyone who can read it
// holds the secret.
func WarnIfShared(path, what string) {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	warnMu.Lock()
	defer warnMu.Unlock()
	if warned[path] {
		return
	}
	warned[path] = true
	fmt.Fprintf(warnOut, "warning: %s file %s has mode %04o: others can read it (chmod 600 %s)\n", what, path, fi.Mode().Perm(), path)
}

// SetWarningOutput sends WarnIfShared's warnings to w and returns a
// function that restores the previous writer (for tests).
func SetWarningOutput(w io.Writer) (restore func()) {
	warnMu.Lock()
	defer warnMu.Unlock()
	old := warnOut
	warnOut = w
	return func() {
		warnMu.Lock()
		defer warnMu.Unlock()
		warnOut = old
	}
}
