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

// fmaTargets are the builds checked. arm64 is the strictest: its compiler
// fuses every a*b+c it may. amd64 with GOAMD64=v3 follows the same rules;
// it is left out of the default run because each target costs a compile of
// the standard library on a cold cache (set FLOE_FMA_ALL=1 to include it;
// the golden digest test also passes under GOAMD64=v3).
var fmaTargets = [][]string{
	{"GOARCH=arm64"},
}

func init() {
	if os.Getenv("FLOE_FMA_ALL") != "" {
		fmaTargets = append(fmaTargets, []string{"GOARCH=amd64", "GOAMD64=v3"})
	}
}

// TestNoFusedMultiplyAdd compiles this package for arm64 (where the Go
// compiler fuses a*b+c whenever the language allows; ppc64le, s390x,
// riscv64 and amd64 with GOAMD64=v3 follow the same rules), and checks that no FMA instruction comes from
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
