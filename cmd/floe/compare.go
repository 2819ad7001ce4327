package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/floe-fl/floe/ledger"
)

const compareExamples = `  floe sim --net memory --rule trimmedmean --rule-param beta=0.2 --out clean
  floe sim --net memory --rule trimmedmean --rule-param beta=0.2 --attack fang-trim --attackers 2 --out attacked
  floe sim --compare clean attacked                    # table on stdout, plot in compare.png
  floe sim --compare runs/* --out runs.svg --json      # any number of runs; JSON table`

// compareRoundsMax bounds the rounds read from one metrics.csv.
const compareRoundsMax = 1 << 20

// compareRun is one run directory of floe sim --compare: its settings from
// summary.json and its rounds from metrics.csv.
type compareRun struct {
	dir     string
	label   string
	options summaryOptions
	rounds  []compareRound // in increasing round order
}

// compareRound is one row of a metrics.csv. ok reports whether the round
// committed a model, and so has a loss and an accuracy.
type compareRound struct {
	round          uint64
	status         string
	ok             bool
	loss, accuracy float64
}

// compareRequested reports whether args (floe sim's arguments) ask for
// --compare, before any "--" terminator.
func compareRequested(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && name == "compare" {
			return true // runCompare reports --compare=false and bad values
		}
	}
	return false
}

// runSimDispatch runs floe sim, or floe sim --compare when args ask for it.
func runSimDispatch(args []string) error {
	if compareRequested(args) {
		return runCompare(args)
	}
	return runSim(args)
}

// runCompare is floe sim --compare DIR ... [--out FILE] [--json]: it reads
// the runs floe sim --out wrote, prints one table of accuracy and loss per
// round and run, and plots both, one line per run.
func runCompare(args []string) error {
	fs := newFlagSet("sim --compare", "DIR ... [--out FILE.png] [--json]", compareExamples)
	compare := fs.Bool("compare", true, "overlay the runs in the DIRs (each the --out of a floe sim): one table and one plot of accuracy and loss per round")
	out := fs.String("out", "compare.png", "the plot: accuracy and loss per round, one line per run (.png, .svg, .pdf, .jpg, .tif or .eps)")
	asJSON := fs.Bool("json", false, "print the table as JSON")
	var dirs []string
	rest := args
	for len(rest) > 0 { // flags and directories in any order; each pass takes at least one argument
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		left := fs.Args()
		if n := len(rest) - len(left); n > 0 && rest[n-1] == "--" {
			dirs = append(dirs, left...)
			break
		}
		if len(left) == 0 {
			break
		}
		dirs = append(dirs, left[0])
		rest = left[1:]
	}
	if !*compare {
		return usagef("--compare=false: leave --compare out to run a simulation")
	}
	if len(dirs) == 0 {
		return usagef("--compare needs at least one run directory (the --out of a floe sim)")
	}
	format := strings.ToLower(strings.TrimPrefix(filepath.Ext(*out), "."))
	if _, err := draw.NewFormattedCanvas(1, 1, format); err != nil || format == "tex" {
		return usagef("--out %q: want an image file name ending in .png, .svg, .pdf, .jpg, .tif or .eps", *out)
	}
	if fi, err := os.Stat(*out); err == nil && fi.IsDir() {
		return usagef("--out %q is a directory: floe sim --compare writes one image file", *out)
	}
	runs := make([]*compareRun, 0, len(dirs))
	for _, d := range dirs {
		r, err := readCompareRun(d)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	labelRuns(runs)
	if err := plotCompare(*out, format, runs); err != nil {
		return fmt.Errorf("compare: plot %s: %w", *out, err)
	}
	t := newCompareTable(runs, *out)
	if *asJSON {
		b, err := json.MarshalIndent(t, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Printf("%s\n", b)
		return err
	}
	printCompareTable(os.Stdout, t)
	return nil
}

// readCompareRun reads dir's summary.json and metrics.csv.
func readCompareRun(dir string) (*compareRun, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("compare: %s: no such run directory (want the --out of a floe sim)", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("compare: %s: not a directory (want the --out of a floe sim)", dir)
	}
	r := &compareRun{dir: dir}
	path := filepath.Join(dir, "summary.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	var sum struct {
		Options *summaryOptions `json:"options"`
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		return nil, fmt.Errorf("compare: %s: not a floe sim summary: %v", path, err)
	}
	if sum.Options == nil {
		return nil, fmt.Errorf("compare: %s: not a floe sim summary: no options", path)
	}
	r.options = *sum.Options
	path = filepath.Join(dir, "metrics.csv")
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	defer f.Close()
	r.rounds, err = readMetricsCSV(f)
	if err != nil {
		return nil, fmt.Errorf("compare: %s: %w", path, err)
	}
	return r, nil
}

// readMetricsCSV reads the rows of a metrics.csv that floe sim wrote. It
// finds its columns by name in the header (columns are only ever added),
// and wants rounds in increasing order, each ok round with a loss and an
// accuracy.
func readMetricsCSV(rd io.Reader) ([]compareRound, error) {
	cr := csv.NewReader(rd)
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("empty file")
	}
	if err != nil {
		return nil, err
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, h := range []string{"round", "status", "loss", "accuracy"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("no %q column in the header", h)
		}
	}
	var rounds []compareRound
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if len(rounds) == compareRoundsMax {
			return nil, fmt.Errorf("line %d: more than %d rounds", line, compareRoundsMax)
		}
		r := compareRound{status: rec[col["status"]]}
		if r.round, err = strconv.ParseUint(rec[col["round"]], 10, 64); err != nil || r.round == 0 {
			return nil, fmt.Errorf("line %d: round %q: want a positive integer", line, rec[col["round"]])
		}
		if n := len(rounds); n > 0 && r.round <= rounds[n-1].round {
			return nil, fmt.Errorf("line %d: round %d after round %d", line, r.round, rounds[n-1].round)
		}
		r.ok = r.status == string(ledger.StatusOK)
		if r.ok {
			for _, v := range []struct {
				name string
				dst  *float64
			}{{"loss", &r.loss}, {"accuracy", &r.accuracy}} {
				s := rec[col[v.name]]
				if *v.dst, err = strconv.ParseFloat(s, 64); err != nil {
					return nil, fmt.Errorf("line %d: %s %q: want a number", line, v.name, s)
				}
			}
		}
		rounds = append(rounds, r)
	}
	if len(rounds) == 0 {
		return nil, errors.New("no rounds")
	}
	return rounds, nil
}

// runSetting describes a run's rule and attack, e.g.
// "trimmedmean(beta=0.2), fang-trim x2" or "fedavg, no attack".
func runSetting(o summaryOptions) string {
	keys := make([]string, 0, len(o.RuleParams))
	for k := range o.RuleParams {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(o.Rule)
	if len(keys) > 0 {
		b.WriteByte('(')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(k + "=" + strconv.FormatFloat(o.RuleParams[k], 'g', -1, 64))
		}
		b.WriteByte(')')
	}
	if o.Attackers > 0 {
		fmt.Fprintf(&b, ", %s x%d", o.Attack, o.Attackers)
	} else {
		b.WriteString(", no attack")
	}
	return b.String()
}

// labelRuns names each run by its directory's base name; when two runs
// share one, every run is named by its setting (runSetting) instead, then by
// its path as given, then by its position.
func labelRuns(runs []*compareRun) {
	namings := []func(i int, r *compareRun) string{
		func(_ int, r *compareRun) string {
			if b := filepath.Base(filepath.Clean(r.dir)); b != "." && b != ".." && b != string(filepath.Separator) {
				return b
			}
			return filepath.Clean(r.dir)
		},
		func(_ int, r *compareRun) string { return runSetting(r.options) },
		func(_ int, r *compareRun) string { return filepath.Clean(r.dir) },
		func(i int, r *compareRun) string { return fmt.Sprintf("%d:%s", i+1, filepath.Clean(r.dir)) },
	}
	for _, name := range namings {
		seen := map[string]bool{}
		for i, r := range runs {
			r.label = name(i, r)
			seen[r.label] = true
		}
		if len(seen) == len(runs) {
			return
		}
	}
}

// compareTable is the table of floe sim --compare, and its --json output.
type compareTable struct {
	Runs   []compareTableRun   `json:"runs"`
	Rounds []compareTableRound `json:"rounds"`
	Plot   string              `json:"plot"`
}

// compareTableRun describes one run: Attack is empty when Attackers is 0,
// FinalAccuracy is that of the last ok round (nil when none).
type compareTableRun struct {
	Label         string             `json:"label"`
	Dir           string             `json:"dir"`
	Setting       string             `json:"setting"`
	Seed          uint64             `json:"seed"`
	Rule          string             `json:"rule"`
	RuleParams    map[string]float64 `json:"rule_params"`
	Attack        string             `json:"attack"`
	Attackers     int                `json:"attackers"`
	Rounds        int                `json:"rounds"`
	FinalAccuracy *float64           `json:"final_accuracy"`
}

// compareTableRound is one round: entry i of each list is run i's, nil
// when the run has no such round (or, for loss and accuracy, when the round
// failed, or the value is not finite).
type compareTableRound struct {
	Round    uint64     `json:"round"`
	Status   []*string  `json:"status"`
	Accuracy []*float64 `json:"accuracy"`
	Loss     []*float64 `json:"loss"`
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// newCompareTable builds the table: the union of the runs' rounds, in
// order.
func newCompareTable(runs []*compareRun, plotPath string) *compareTable {
	t := &compareTable{Plot: plotPath}
	byRound := map[uint64][]*compareRound{}
	for i, r := range runs {
		tr := compareTableRun{Label: r.label, Dir: r.dir, Setting: runSetting(r.options), Seed: r.options.Seed,
			Rule: r.options.Rule, RuleParams: r.options.RuleParams, Attackers: r.options.Attackers, Rounds: len(r.rounds)}
		if tr.RuleParams == nil {
			tr.RuleParams = map[string]float64{}
		}
		if r.options.Attackers > 0 {
			tr.Attack = r.options.Attack
		}
		for j := range r.rounds {
			rr := &r.rounds[j]
			if byRound[rr.round] == nil {
				byRound[rr.round] = make([]*compareRound, len(runs))
			}
			byRound[rr.round][i] = rr
			if rr.ok {
				tr.FinalAccuracy = finite(rr.accuracy)
			}
		}
		t.Runs = append(t.Runs, tr)
	}
	rounds := make([]uint64, 0, len(byRound))
	for n := range byRound {
		rounds = append(rounds, n)
	}
	sort.Slice(rounds, func(i, j int) bool { return rounds[i] < rounds[j] })
	for _, n := range rounds {
		row := compareTableRound{Round: n, Status: make([]*string, len(runs)), Accuracy: make([]*float64, len(runs)), Loss: make([]*float64, len(runs))}
		for i, rr := range byRound[n] {
			if rr == nil {
				continue
			}
			s := rr.status
			row.Status[i] = &s
			if rr.ok {
				row.Accuracy[i], row.Loss[i] = finite(rr.accuracy), finite(rr.loss)
			}
		}
		t.Rounds = append(t.Rounds, row)
	}
	return t
}

// printCompareTable writes t as text: the runs, then one line per round
// with each run's accuracy and loss ("-" where the run has none).
func printCompareTable(w io.Writer, t *compareTable) {
	labelWidth := 0
	for _, r := range t.Runs {
		labelWidth = max(labelWidth, len(r.Label))
	}
	fmt.Fprintln(w, "runs:")
	for _, r := range t.Runs {
		fmt.Fprintf(w, "  %-*s  %s: %s, seed %d, %d rounds\n", labelWidth, r.Label, r.Dir, r.Setting, r.Seed, r.Rounds)
	}
	widths := make([]int, len(t.Runs))
	var top, sub strings.Builder
	fmt.Fprintf(&top, "%5s", "")
	fmt.Fprintf(&sub, "%5s", "round")
	for i, r := range t.Runs {
		widths[i] = max(18, len(r.Label))
		fmt.Fprintf(&top, "  %-*s", widths[i], r.Label)
		fmt.Fprintf(&sub, "  %-*s", widths[i], fmt.Sprintf("%-8s  %-8s", "accuracy", "loss"))
	}
	fmt.Fprintln(w, strings.TrimRight(top.String(), " "))
	fmt.Fprintln(w, strings.TrimRight(sub.String(), " "))
	num := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprintf("%.4f", *v)
	}
	for _, row := range t.Rounds {
		var b strings.Builder
		fmt.Fprintf(&b, "%5d", row.Round)
		for i := range t.Runs {
			fmt.Fprintf(&b, "  %-*s", widths[i], fmt.Sprintf("%-8s  %-8s", num(row.Accuracy[i]), num(row.Loss[i])))
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	fmt.Fprintf(w, "plot in %s (accuracy and loss per round, one line per run)\n", t.Plot)
}

// plotCompare writes the accuracy and loss of every run per round to path,
// as two panels, one line per run: solid for runs without attackers, dashed
// for runs with some.
func plotCompare(path, format string, runs []*compareRun) error {
	acc, loss := plot.New(), plot.New()
	acc.Title.Text = "floe sim --compare: test accuracy per round"
	acc.Y.Label.Text = "accuracy"
	acc.Y.Min, acc.Y.Max = 0, 1 // one scale for every comparison
	loss.Title.Text = "test loss per round"
	loss.Y.Label.Text = "loss"
	loss.Legend.Top = true // loss falls: the top right is free
	for _, p := range []*plot.Plot{acc, loss} {
		p.X.Label.Text = "round"
		p.Add(plotter.NewGrid())
	}
	for i, r := range runs {
		name := r.label
		if o := r.options; o.Attackers > 0 && !strings.Contains(name, o.Attack) {
			name += fmt.Sprintf(" (%s x%d)", o.Attack, o.Attackers)
		}
		for _, panel := range []struct {
			p     *plot.Plot
			value func(compareRound) float64
		}{{acc, func(r compareRound) float64 { return r.accuracy }}, {loss, func(r compareRound) float64 { return r.loss }}} {
			var pts plotter.XYs
			for _, rr := range r.rounds {
				if v := panel.value(rr); rr.ok && finite(v) != nil { // failed rounds have no new model to evaluate
					pts = append(pts, plotter.XY{X: float64(rr.round), Y: v})
				}
			}
			if len(pts) == 0 {
				continue
			}
			line, points, err := plotter.NewLinePoints(pts)
			if err != nil {
				return err
			}
			c := plotutil.Color(i)
			line.Color, points.Color = c, c
			points.Shape = plotutil.Shape(i)
			points.Radius = vg.Points(2)
			if r.options.Attackers > 0 {
				line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
			}
			panel.p.Add(line, points)
			panel.p.Legend.Add(name, line, points)
		}
	}
	c, err := draw.NewFormattedCanvas(7*vg.Inch, 8*vg.Inch, format)
	if err != nil {
		return err
	}
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(12), PadY: vg.Points(18)}
	cs := plot.Align([][]*plot.Plot{{acc}, {loss}}, tiles, draw.New(c))
	acc.Draw(cs[0][0])
	loss.Draw(cs[1][0])
	f, _ := createOutput(path)
	if _, err := c.WriteTo(f); err != nil {
		return err
	}
	return f.Close()
}
