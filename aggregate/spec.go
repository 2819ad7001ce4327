package aggregate

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Spec names an aggregation rule and its parameters, as written in a job
// file:
//
//	aggregation:
//	  rule: fedadam
//	  params: {eta: 0.01, beta1: 0.9, beta2: 0.99, tau: 0.001}
type Spec struct {
	Rule   string             `yaml:"rule" json:"rule"`
	Params map[string]float64 `yaml:"params,omitempty" json:"params,omitempty"`
}

type ruleKind int

const (
	kindMean   ruleKind = iota // FedAvg family: streaming weighted mean + server optimizer
	kindRobust                 // buffers all updates
)

// param describes one parameter of a rule.
type param struct {
	name string
	def  float64 // default; NaN means required
	// check reports a problem with v, or "".
	check func(v float64) string
}

type ruleDef struct {
	kind   ruleKind
	params []param
	// cross checks parameter combinations after defaults are filled.
	cross func(p map[string]float64) string
}

func positive(v float64) string {
	if v <= 0 {
		return "must be > 0"
	}
	return ""
}

func nonNegative(v float64) string {
	if v < 0 {
		return "must be >= 0"
	}
	return ""
}

func unitInterval(v float64) string {
	if v < 0 || v >= 1 {
		return "must be in [0, 1)"
	}
	return ""
}

func halfInterval(v float64) string {
	if v < 0 || v >= 0.5 {
		return "must be in [0, 0.5)"
	}
	return ""
}

func count(min float64) func(v float64) string {
	return func(v float64) string {
		if v != math.Trunc(v) || v < min || v > 1<<30 {
			return fmt.Sprintf("must be an integer >= %g", min)
		}
		return ""
	}
}

// dpParams are accepted by every FedAvg-family rule: per-update L2 clip
// (0 = off) and Gaussian noise multiplier (stddev = multiplier * clip).
var dpParams = []param{
	{"dp_clip", 0, nonNegative},
	{"dp_noise_multiplier", 0, nonNegative},
}

func dpCross(p map[string]float64) string {
	if p["dp_noise_multiplier"] > 0 && p["dp_clip"] == 0 {
		return "dp_noise_multiplier > 0 needs dp_clip > 0"
	}
	return ""
}

func withDP(ps ...param) []param { return append(ps, dpParams...) }

// rules lists every rule with its parameters and defaults. The defaults of
// the adaptive optimizers are Flower's (flwr.server.strategy), which follow
// Reddi et al. 2021, "Adaptive Federated Optimization".
var rules = map[string]ruleDef{
	"fedavg": {kind: kindMean, params: withDP(), cross: dpCross},
	"fedavgm": {kind: kindMean, params: withDP(
		param{"eta", 1, positive},
		param{"momentum", 0.9, unitInterval},
	), cross: dpCross},
	"fedadam": {kind: kindMean, params: withDP(
		param{"eta", 0.1, positive},
		param{"eta_l", 0.1, positive},
		param{"beta1", 0.9, unitInterval},
		param{"beta2", 0.99, unitInterval},
		param{"tau", 1e-9, positive},
	), cross: dpCross},
	"fedyogi": {kind: kindMean, params: withDP(
		param{"eta", 0.01, positive},
		param{"eta_l", 0.0316, positive},
		param{"beta1", 0.9, unitInterval},
		param{"beta2", 0.99, unitInterval},
		param{"tau", 1e-3, positive},
	), cross: dpCross},
	"fedadagrad": {kind: kindMean, params: withDP(
		param{"eta", 0.1, positive},
		param{"eta_l", 0.1, positive},
		param{"beta1", 0, unitInterval},
		param{"tau", 1e-9, positive},
	), cross: dpCross},
	"median": {kind: kindRobust},
	"trimmedmean": {kind: kindRobust, params: []param{
		{"beta", 0.1, halfInterval},
	}},
	"krum": {kind: kindRobust, params: []param{
		{"f", math.NaN(), count(0)},
	}},
	"multikrum": {kind: kindRobust, params: []param{
		{"f", math.NaN(), count(0)},
		{"m", math.NaN(), count(1)},
	}},
}

// Rules reports the names of all rules, sorted.
func Rules() []string {
	names := make([]string, 0, len(rules))
	for n := range rules {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (d ruleDef) names() []string {
	var ns []string
	for _, p := range d.params {
		ns = append(ns, p.name)
	}
	sort.Strings(ns)
	return ns
}

// Validate reports whether s names a known rule with known, well-formed
// parameters. It does not modify s.
func (s Spec) Validate() error {
	d, ok := rules[s.Rule]
	if !ok {
		return fmt.Errorf("aggregate: unknown rule %q (known: %s)", s.Rule, strings.Join(Rules(), ", "))
	}
	for _, k := range sortedKeys(s.Params) {
		found := false
		for _, p := range d.params {
			if p.name == k {
				found = true
				break
			}
		}
		if !found {
			accepted := "none"
			if len(d.params) > 0 {
				accepted = strings.Join(d.names(), ", ")
			}
			return fmt.Errorf("aggregate: rule %s has no parameter %q (accepted: %s)", s.Rule, k, accepted)
		}
	}
	for _, p := range d.params {
		v, given := s.Params[p.name]
		if !given {
			if math.IsNaN(p.def) {
				return fmt.Errorf("aggregate: rule %s needs parameter %s", s.Rule, p.name)
			}
			continue
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("aggregate: rule %s parameter %s = %v is not finite", s.Rule, p.name, v)
		}
		if msg := p.check(v); msg != "" {
			return fmt.Errorf("aggregate: rule %s parameter %s = %v %s", s.Rule, p.name, v, msg)
		}
	}
	if d.cross != nil {
		if msg := d.cross(s.filled()); msg != "" {
			return fmt.Errorf("aggregate: rule %s: %s", s.Rule, msg)
		}
	}
	return nil
}

// filled returns the parameters with defaults filled in. s must be valid.
func (s Spec) filled() map[string]float64 {
	d := rules[s.Rule]
	p := make(map[string]float64, len(d.params))
	for _, q := range d.params {
		if v, ok := s.Params[q.name]; ok {
			p[q.name] = v
		} else {
			p[q.name] = q.def
		}
	}
	return p
}

// Canonical reports the stable description of s recorded in the round
// commitment: the rule name and every parameter (defaults filled in),
// sorted by name, values in Go's shortest round-trip form, e.g.
// "fedadam(beta1=0.9,beta2=0.99,dp_clip=0,dp_noise_multiplier=0,eta=0.1,eta_l=0.1,tau=1e-09)".
// It reports "invalid(...)" for a spec that does not validate.
func (s Spec) Canonical() string {
	if err := s.Validate(); err != nil {
		return "invalid(" + err.Error() + ")"
	}
	p := s.filled()
	var b strings.Builder
	b.WriteString(s.Rule)
	b.WriteByte('(')
	for i, k := range sortedKeys(p) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.FormatFloat(p[k], 'g', -1, 64))
	}
	b.WriteByte(')')
	return b.String()
}

// ParseCanonical parses the output of Canonical back into a Spec with every
// parameter explicit, so an auditor can rebuild the aggregator of a round
// from its commitment.
func ParseCanonical(c string) (Spec, error) {
	open := strings.IndexByte(c, '(')
	if open <= 0 || !strings.HasSuffix(c, ")") {
		return Spec{}, fmt.Errorf("aggregate: malformed rule description %q", c)
	}
	s := Spec{Rule: c[:open], Params: map[string]float64{}}
	body := c[open+1 : len(c)-1]
	if body != "" {
		for _, kv := range strings.Split(body, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return Spec{}, fmt.Errorf("aggregate: malformed parameter %q in rule description", kv)
			}
			if _, dup := s.Params[k]; dup {
				return Spec{}, fmt.Errorf("aggregate: parameter %q repeated in rule description", k)
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return Spec{}, fmt.Errorf("aggregate: parameter %s: %v", k, err)
			}
			s.Params[k] = f
		}
	}
	if err := s.Validate(); err != nil {
		return Spec{}, err
	}
	if s.Canonical() != c {
		return Spec{}, fmt.Errorf("aggregate: rule description %q is not canonical (want %q)", c, s.Canonical())
	}
	return s, nil
}

// DP reports the central-DP configuration of s and whether it is on
// (dp_clip > 0). Only FedAvg-family rules accept DP parameters.
func (s Spec) DP() (DPConfig, bool) {
	if s.Validate() != nil || rules[s.Rule].kind != kindMean {
		return DPConfig{}, false
	}
	p := s.filled()
	c := DPConfig{ClipNorm: p["dp_clip"], NoiseMultiplier: p["dp_noise_multiplier"]}
	return c, c.ClipNorm > 0
}

// Streaming reports whether the rule folds updates one at a time.
func (s Spec) Streaming() bool {
	d, ok := rules[s.Rule]
	return ok && d.kind == kindMean
}

func sortedKeys(m map[string]float64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
