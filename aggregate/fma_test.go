package aggregate

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fmaInstr matches the fused multiply-add mnemonics of amd64 (VFMADD231SD
// ...), arm64 and riscv64 (FMADDD, FNMSUBD ...), ppc64le and s390x
// (FMADD, FMSUB ...).
var fmaInstr = regexp.MustCompile(`^V?FN?M(ADD|SUB)`)

// fmaSites compiles the package in dir for the given environment with
// -gcflags=-S and reports the source positions of FMA instructions in
// non-test files.
func fmaSites(t *testing.T, dir string, env []string) []string {
	t.Helper()
	cmd := exec.Command("go", "build", "-gcflags=-S", "-o", os.DevNull, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build %v: %v\n%s", env, err, out)
	}
	var sites []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// "0x0000 00000 (/path/file.go:12) INSTR args"
		if len(f) < 4 || !strings.HasPrefix(f[2], "(") || !fmaInstr.MatchString(f[3]) {
			continue
		}
		// Test files, and the privacy accountant (advisory numbers, never
		// part of a committed aggregation), may fuse.
		if strings.Contains(f[2], "_test.go") || strings.Contains(f[2], "/rdp.go:") {
			continue
		}
		sites = append(sites, f[2]+" "+f[3])
	}
	return sites
}

var fmaTargets = [][]string{
	{"GOARCH=amd64", "GOAMD64=v3"},
	{"GOARCH=arm64"},
}

// TestNoFusedMultiplyAdd compiles this package for amd64 with FMA allowed
// (GOAMD64=v3) and for arm64 (where the Go compiler always fuses a*b+c; the
// same SSA rules fuse on ppc64le, s390x and riscv64), and checks that no FMA instruction comes from
// this package's code: the explicit float64(...) roundings hold everywhere.
// A probe package (a*b+c) shows the check would see a fusion.
func TestNoFusedMultiplyAdd(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the package")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not found")
	}
	probe := t.TempDir()
	os.WriteFile(filepath.Join(probe, "go.mod"), []byte("module probe\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(probe, "p.go"), []byte("package probe\n\nfunc F(a, b, c float64) float64 { return a*b + c }\n"), 0o644)
	for _, env := range fmaTargets {
		t.Run(strings.Join(env, ","), func(t *testing.T) {
			if len(fmaSites(t, probe, append(env, "GOFLAGS=-mod=mod"))) == 0 {
				t.Fatalf("probe a*b+c compiled without FMA for %v: the check cannot see fusion", env)
			}
			if s := fmaSites(t, ".", env); len(s) > 0 {
				t.Fatalf("FMA instructions in package code for %v:\n%s", env, strings.Join(s, "\n"))
			}
		})
	}
}
