package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// csvMetrics reads a metrics.csv as the test sees it: round to accuracy and
// loss (empty strings for a failed round).
func csvMetrics(t *testing.T, path string) (rounds []uint64, acc, loss map[uint64]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	acc, loss = map[uint64]string{}, map[uint64]string{}
	for _, r := range recs[1:] {
		n, err := strconv.ParseUint(r[col["round"]], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		rounds = append(rounds, n)
		acc[n], loss[n] = r[col["accuracy"]], r[col["loss"]]
	}
	return rounds, acc, loss
}

// TestCLICompare runs a clean and an attacked simulation of different
// lengths and compares them: the text and JSON tables hold every round of
// both runs with the values of their metrics.csv, and the plot is a PNG.
func TestCLICompare(t *testing.T) {
	dir := t.TempDir()
	clean, attacked := filepath.Join(dir, "clean"), filepath.Join(dir, "attacked")
	for _, args := range [][]string{
		{"--rounds", "3", "--out", clean},
		{"--rounds", "4", "--rule", "trimmedmean", "--rule-param", "beta=0.2", "--attack", "fang-trim", "--attackers", "1", "--out", attacked},
	} {
		sim := append([]string{"sim", "--net", "memory", "--quiet", "--no-audit", "--participants", "5", "--nodes", "4"}, args...)
		if stdout, stderr, code := floeRun(t, sim...); code != 0 {
			t.Fatalf("%v: exit %d:\n%s\n%s", sim, code, stdout, stderr)
		}
	}
	pngPath := filepath.Join(dir, "cmp.png")
	stdout, stderr, code := floeRun(t, "sim", "--compare", clean, attacked, "--out", pngPath)
	if code != 0 {
		t.Fatalf("compare: exit %d:\n%s\n%s", code, stdout, stderr)
	}
	type want struct {
		rounds    []uint64
		acc, loss map[uint64]string
	}
	var runs []want
	for _, d := range []string{clean, attacked} {
		var w want
		w.rounds, w.acc, w.loss = csvMetrics(t, filepath.Join(d, "metrics.csv"))
		runs = append(runs, w)
	}
	if len(runs[0].rounds) != 3 || len(runs[1].rounds) != 4 {
		t.Fatalf("runs of %d and %d rounds, want 3 and 4", len(runs[0].rounds), len(runs[1].rounds))
	}

	// The text table: a line per round, accuracy and loss per run, "-"
	// where a run has no such round.
	lines := map[uint64][]string{}
	for _, l := range strings.Split(stdout, "\n") {
		f := strings.Fields(l)
		if n, err := strconv.ParseUint(strings.TrimSpace(firstOr(f)), 10, 64); err == nil && len(f) == 5 {
			lines[n] = f[1:]
		}
	}
	if len(lines) != 4 {
		t.Fatalf("table has %d round lines, want 4:\n%s", len(lines), stdout)
	}
	text := func(s string) string {
		if s == "" {
			return "-"
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%.4f", v)
	}
	for n := uint64(1); n <= 4; n++ {
		for i, w := range runs {
			wantAcc, wantLoss := "-", "-"
			if _, ok := w.acc[n]; ok {
				wantAcc, wantLoss = text(w.acc[n]), text(w.loss[n])
			}
			if got := lines[n][2*i : 2*i+2]; got[0] != wantAcc || got[1] != wantLoss {
				t.Errorf("round %d run %d: table %v, metrics.csv %s %s", n, i, got, wantAcc, wantLoss)
			}
		}
	}
	if !strings.Contains(stdout, "fang-trim x1") || !strings.Contains(stdout, "no attack") {
		t.Errorf("table does not describe the runs' attacks:\n%s", stdout)
	}

	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("plot: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Fatalf("plot is %v", b)
	}

	// The JSON table: exactly the values of metrics.csv.
	stdout, stderr, code = floeRun(t, "sim", "--compare", clean, attacked, "--out", pngPath, "--json")
	if code != 0 {
		t.Fatalf("compare --json: exit %d:\n%s\n%s", code, stdout, stderr)
	}
	var got compareTable
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("--json: %v:\n%s", err, stdout)
	}
	if len(got.Runs) != 2 || got.Runs[0].Label != "clean" || got.Runs[1].Label != "attacked" ||
		got.Runs[0].Attackers != 0 || got.Runs[1].Attack != "fang-trim" || got.Runs[1].Rule != "trimmedmean" || got.Plot != pngPath {
		t.Fatalf("--json runs: %+v plot %q", got.Runs, got.Plot)
	}
	if len(got.Rounds) != 4 {
		t.Fatalf("--json has %d rounds, want 4", len(got.Rounds))
	}
	for _, row := range got.Rounds {
		for i, w := range runs {
			s, ok := w.acc[row.Round]
			switch {
			case !ok:
				if row.Status[i] != nil || row.Accuracy[i] != nil || row.Loss[i] != nil {
					t.Errorf("round %d run %d: values for a round the run does not have", row.Round, i)
				}
			case row.Accuracy[i] == nil || row.Loss[i] == nil:
				t.Errorf("round %d run %d: no values", row.Round, i)
			default:
				a, _ := strconv.ParseFloat(s, 64)
				l, _ := strconv.ParseFloat(w.loss[row.Round], 64)
				if *row.Accuracy[i] != a || *row.Loss[i] != l {
					t.Errorf("round %d run %d: JSON %v %v, metrics.csv %v %v", row.Round, i, *row.Accuracy[i], *row.Loss[i], a, l)
				}
			}
		}
	}

	// A malformed metrics.csv and a missing directory exit 1 naming them;
	// bad usage exits 2.
	bad := filepath.Join(dir, "bad")
	if err := os.MkdirAll(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(clean, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "summary.json"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "metrics.csv"), []byte("round,status,loss,accuracy\n1,ok,0.5,high\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{clean, bad}, 1, filepath.Join(bad, "metrics.csv") + `: line 2: accuracy "high": want a number`},
		{[]string{clean, missing}, 1, missing + ": no such run directory"},
		{[]string{clean, pngPath}, 1, pngPath + ": not a directory"},
		{nil, 2, "needs at least one run directory"},
		{[]string{clean, "--out", filepath.Join(dir, "cmp")}, 2, "want an image file name"},
		{[]string{clean, "--rounds", "3"}, 2, "not defined: -rounds"},
	} {
		args := append([]string{"sim", "--compare", "--out", pngPath}, c.args...)
		_, stderr, code := floeRun(t, args...)
		if code != c.code || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

func firstOr(f []string) string {
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// TestCompareLabels: directory names when they are distinct, else the
// runs' settings, else their paths.
func TestCompareLabels(t *testing.T) {
	attack := summaryOptions{Rule: "trimmedmean", RuleParams: map[string]float64{"beta": 0.2}, Attack: "lie", Attackers: 2}
	clean := summaryOptions{Rule: "trimmedmean", RuleParams: map[string]float64{"beta": 0.2}, Attack: "signflip"}
	for _, c := range []struct {
		dirs []string
		opts []summaryOptions
		want []string
	}{
		{[]string{"runs/clean", "runs/attacked/"}, []summaryOptions{clean, attack}, []string{"clean", "attacked"}},
		{[]string{"a/out", "b/out"}, []summaryOptions{clean, attack}, []string{"trimmedmean(beta=0.2), no attack", "trimmedmean(beta=0.2), lie x2"}},
		{[]string{"a/out", "b/out"}, []summaryOptions{clean, clean}, []string{"a/out", "b/out"}},
		{[]string{"out", "./out"}, []summaryOptions{clean, clean}, []string{"1:out", "2:out"}},
		{[]string{"."}, []summaryOptions{clean}, []string{"."}},
	} {
		var runs []*compareRun
		for i, d := range c.dirs {
			runs = append(runs, &compareRun{dir: d, options: c.opts[i]})
		}
		labelRuns(runs)
		for i, r := range runs {
			if r.label != c.want[i] {
				t.Errorf("%v: label %d is %q, want %q", c.dirs, i, r.label, c.want[i])
			}
		}
	}
}

// TestCompareReadMetrics: the rows floe sim writes parse, columns are found
// by name, and malformed files fail with the line.
func TestCompareReadMetrics(t *testing.T) {
	rounds, err := readMetricsCSV(strings.NewReader("round,status,cohort,submitted,accepted,loss,accuracy,seconds,head\n" +
		"1,ok,4,4,4,1.38413,0.709091,0.072,P1x\n2,failed,4,1,1,,,0.062,8IO\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rounds) != 2 || !rounds[0].ok || rounds[0].loss != 1.38413 || rounds[0].accuracy != 0.709091 || rounds[1].ok || rounds[1].status != "failed" {
		t.Fatalf("rounds %+v", rounds)
	}
	for _, c := range []struct{ in, want string }{
		{"", "empty file"},
		{"round,status,loss\n", `no "accuracy" column`},
		{"round,status,loss,accuracy\n", "no rounds"},
		{"round,status,loss,accuracy\n0,ok,1,1\n", `line 2: round "0"`},
		{"round,status,loss,accuracy\n2,ok,1,1\n1,ok,1,1\n", "line 3: round 1 after round 2"},
		{"round,status,loss,accuracy\n1,ok,,1\n", `line 2: loss ""`},
		{"round,status,loss,accuracy\n1,ok,1\n", "wrong number of fields"},
	} {
		if _, err := readMetricsCSV(strings.NewReader(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.in, err, c.want)
		}
	}
}
