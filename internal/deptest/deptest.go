package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

// Check fails t for every package pkg depends on (itself included) whose
// import path is under one of the forbidden prefixes. A prefix matches the
// path itself and everything below it.
func Check(t *testing.T, pkg string, forbidden []string) {
	t.Helper()
	for _, dep := range Deps(t, pkg) {
		for _, bad := range forbidden {
			if under(dep, bad) {
				t.Errorf("%s depends on %s (forbidden: %s)", pkg, dep, bad)
			}
		}
	}
}

// Deps returns the import paths of every package pkg depends on, itself
// included, as `go list -deps` prints them. It skips t in -short mode.
func Deps(t *testing.T, pkg string) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("go list in -short mode")
	}
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatalf("go list -deps %s: no packages", pkg)
	}
	return deps
}

// under reports whether path is prefix or a package below it.
func under(path, prefix string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}
