package job

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/decimal"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/seal"
	"github.com/floe-fl/floe/secagg"
	"github.com/goccy/go-yaml"
)

// CoordinatorRecipient is the coordinator's name among a sealed job's
// recipients (coordinator.RecipientName).
const CoordinatorRecipient = "coordinator"

// Config is the YAML job file (see README "Job file"). Unknown fields are
// errors.
type Config struct {
	Name            string         `yaml:"name"`
	Model           string         `yaml:"model"`         // logreg:IN-CLASSES, mlp:IN-H1-...-CLASSES, or logreg alone (sizes from the data)
	InitialModel    string         `yaml:"initial_model"` // instead of model: a safetensors file, stored byte for byte as version 0; Load resolves it against the job file's directory
	Seed            Uint           `yaml:"seed"`
	Rounds          Uint           `yaml:"rounds"`
	CohortSize      Uint           `yaml:"cohort_size"`
	Quorum          Uint           `yaml:"quorum"` // 0: half the cohort, rounded up
	MinParticipants Uint           `yaml:"min_participants"`
	Deadline        string         `yaml:"deadline"` // Go duration
	Train           Train          `yaml:"train"`
	Aggregation     aggregate.Spec `yaml:"aggregation"`
	Privacy         string         `yaml:"privacy"` // sealed, secagg or plain
	SecAgg          SecAgg         `yaml:"secagg"`  // privacy secagg only
	NormBound       float64        `yaml:"norm_bound"`
	Clip            bool           `yaml:"clip"`
	UpdateLifetime  string         `yaml:"update_lifetime"` // Go duration; "" or 0: forever
	Auditors        []Auditor      `yaml:"auditors"`
	Admission       Admission      `yaml:"admission"`
	// Store is where the job's blobs live: "" (floe's own storage nodes,
	// the committee file) or "walrus" (the Walrus network; no committee).
	Store string `yaml:"store"`
}

// Admission says who may join the job. The default is an open federation:
// anyone who can reach the coordinator may register (up to
// ledger.DefaultMaxRegistrations peers) and claim up to 2^32 examples, so
// Sybils can fill cohorts; set allow (the participants' peer IDs) for a
// closed federation, and max_examples to bound what one participant weighs.
type Admission struct {
	Allow            []string `yaml:"allow"`             // peer IDs; empty: anyone
	MaxRegistrations Uint     `yaml:"max_registrations"` // 0: ledger.DefaultMaxRegistrations
	MaxExamples      Uint     `yaml:"max_examples"`      // per participant; 0: 2^32
}

// SecAgg configures secure aggregation (privacy: secagg). Zero fields take
// the defaults: clip 1, frac_bits 16, threshold 0.66, step 10s, corrupt
// 0.3 (a corrupt fraction of 0 is written as a tiny positive number, or
// left at the default). The ring is
// chosen from the cohort size, admission.max_examples, clip and frac_bits so
// that no sum wraps; a combination that needs more than 64 bits is refused.
type SecAgg struct {
	Clip      float64 `yaml:"clip"`      // coordinates of an update are clipped to [-clip, clip]
	FracBits  Uint    `yaml:"frac_bits"` // fixed-point precision 2^-frac_bits
	Threshold float64 `yaml:"threshold"` // fraction of a member's share holders needed to unmask, in (0.5, 1]
	Step      string  `yaml:"step"`      // Go duration bounding each step other than training
	// Corrupt is the fraction of a member's share holders assumed to
	// collude with the coordinator; threshold must keep both of a
	// member's secrets out of their reach (ledger.SecAggSafe).
	Corrupt float64 `yaml:"corrupt"`
}

// secaggDefaults returns c's secagg block with the defaults filled in.
func (c Config) secaggDefaults() SecAgg {
	a := c.SecAgg
	if a.Clip == 0 {
		a.Clip = 1
	}
	if a.FracBits == 0 {
		a.FracBits = 16
	}
	if a.Threshold == 0 {
		a.Threshold = 0.66
	}
	if a.Step == "" {
		a.Step = "10s"
	}
	if a.Corrupt == 0 {
		a.Corrupt = 0.3
	}
	return a
}

// Train holds the local training hyperparameters.
type Train struct {
	Epochs      Uint    `yaml:"epochs"`
	BatchSize   Uint    `yaml:"batch_size"`
	LR          float64 `yaml:"lr"`
	Mu          float64 `yaml:"mu"`
	WeightDecay float64 `yaml:"weight_decay"`
}

// Auditor is a further recipient of a sealed job's updates.
type Auditor struct {
	Name      string `yaml:"name"`
	PublicKey string `yaml:"public_key"` // base64 of the X25519 public key (floe keygen --hpke prints it)
}

// Uint is a non-negative integer field of the job file. Its YAML form is
// plain decimal digits: fractions, signs, hex and values past 2^64-1 are
// errors (a plain uint64 would silently truncate or wrap them).
type Uint uint64

// UnmarshalYAML reads decimal digits.
func (u *Uint) UnmarshalYAML(b []byte) error {
	s := strings.TrimSpace(string(b))
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || s == "" || s[0] == '+' {
		return fmt.Errorf("%q is not an integer in [0, 18446744073709551615]", s)
	}
	*u = Uint(v)
	return nil
}

// Default returns a Config with every default filled in. Name, model,
// rounds, cohort_size and train.epochs, train.batch_size and train.lr have
// no default: Validate requires them.
func Default() Config {
	return Config{
		MinParticipants: 1,
		Deadline:        "60s",
		Aggregation:     aggregate.Spec{Rule: "fedavg"},
		Privacy:         "sealed",
	}
}

// DefaultQuorum returns the quorum of a cohort when the job sets none: half
// the cohort, rounded up.
func DefaultQuorum(cohort uint64) uint64 { return (cohort + 1) / 2 }

// quorum returns the effective quorum of c.
func (c Config) quorum() uint64 {
	if c.Quorum == 0 {
		return DefaultQuorum(uint64(c.CohortSize))
	}
	return uint64(c.Quorum)
}

// Error reports a bad field of a Config: "job: FIELD: PROBLEM".
type Error struct {
	Field string // as in the job file, e.g. "train.lr"
	Msg   string
}

func (e *Error) Error() string { return "job: " + e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Parse reads a job file's bytes over Default() and validates the result.
// Unknown fields, duplicate keys and values of the wrong type are errors.
func Parse(b []byte) (Config, error) {
	c := Default()
	if err := DecodeYAML(b, &c, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
		return Config{}, fmt.Errorf("job: %s", yaml.FormatError(err, false, true))
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Load reads and parses the job file at path. Its errors name the file. A
// relative initial_model is taken relative to the job file's directory.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("job file: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return Config{}, fmt.Errorf("job file %s: %w", path, err)
	}
	if c.InitialModel != "" && !filepath.IsAbs(c.InitialModel) {
		c.InitialModel = filepath.Join(filepath.Dir(path), c.InitialModel)
	}
	return c, nil
}

// Validate reports the first field of c that cannot make a job, as an
// *Error. It does not modify c. Besides each field's own range, it checks
// that the aggregation rule's parameters can be met by a round of quorum
// updates (see the package documentation).
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return fieldErr("name", "required")
	case c.Model == "" && c.InitialModel == "":
		return fieldErr("model", "required (logreg:IN-CLASSES or mlp:IN-H1-...-CLASSES), or initial_model: FILE")
	case c.Model != "" && c.InitialModel != "":
		return fieldErr("initial_model", "the job sets model %q too: give one of model and initial_model", c.Model)
	case c.Rounds < 1:
		return fieldErr("rounds", "must be at least 1")
	case c.CohortSize < 1 || c.CohortSize > ledger.MaxCohort:
		return fieldErr("cohort_size", "%d, want 1 to %d", c.CohortSize, ledger.MaxCohort)
	case uint64(c.Quorum) > uint64(c.CohortSize):
		return fieldErr("quorum", "%d exceeds cohort_size %d", c.Quorum, c.CohortSize)
	case c.MinParticipants < 1 || c.MinParticipants > ledger.MaxCohort:
		return fieldErr("min_participants", "%d, want 1 to %d", c.MinParticipants, ledger.MaxCohort)
	case c.Train.Epochs < 1 || c.Train.Epochs > ledger.MaxCohort:
		return fieldErr("train.epochs", "%d, want 1 to %d", c.Train.Epochs, ledger.MaxCohort)
	case c.Train.BatchSize < 1 || c.Train.BatchSize > ledger.MaxCohort:
		return fieldErr("train.batch_size", "%d, want 1 to %d", c.Train.BatchSize, ledger.MaxCohort)
	case !(c.Train.LR > 0) || math.IsInf(c.Train.LR, 0):
		return fieldErr("train.lr", "%v, want a finite number > 0", c.Train.LR)
	case !(c.Train.Mu >= 0) || math.IsInf(c.Train.Mu, 0):
		return fieldErr("train.mu", "%v, want a finite number >= 0", c.Train.Mu)
	case !(c.Train.WeightDecay >= 0) || math.IsInf(c.Train.WeightDecay, 0):
		return fieldErr("train.weight_decay", "%v, want a finite number >= 0", c.Train.WeightDecay)
	case c.Privacy != "sealed" && c.Privacy != "plain" && c.Privacy != ledger.PrivacySecAgg:
		return fieldErr("privacy", "%q, want sealed, secagg or plain", c.Privacy)
	case c.Privacy != ledger.PrivacySecAgg && c.SecAgg != (SecAgg{}):
		return fieldErr("secagg", "set in a %s job; use privacy: secagg or remove it", c.Privacy)
	case !(c.NormBound >= 0) || math.IsInf(c.NormBound, 0):
		return fieldErr("norm_bound", "%v, want a finite number >= 0 (0: no bound)", c.NormBound)
	case c.Clip && c.NormBound == 0:
		return fieldErr("clip", "needs a norm_bound > 0")
	}
	deadline, err := c.deadline()
	if err != nil {
		return err
	}
	lifetime, err := c.updateLifetime()
	if err != nil {
		return err
	}
	if lifetime != 0 && lifetime < deadline {
		return fieldErr("update_lifetime", "%v is shorter than the deadline %v: updates could vanish before their round closes", lifetime, deadline)
	}
	if err := c.Aggregation.Validate(); err != nil {
		return fieldErr("aggregation", "%v", err)
	}
	if err := checkRule(c.Aggregation, c.quorum()); err != nil {
		return err
	}
	for i, p := range c.Admission.Allow {
		if _, err := ledger.ParsePeerID(p); err != nil {
			return fieldErr(fmt.Sprintf("admission.allow[%d]", i), "%q is not an Ed25519 peer ID (floe keygen prints a participant's)", p)
		}
	}
	if n := uint64(len(slices.Compact(slices.Sorted(slices.Values(c.Admission.Allow))))); n > 0 && n < uint64(c.MinParticipants) {
		return fieldErr("admission.allow", "%d peers, fewer than min_participants %d: no round could open", n, c.MinParticipants)
	}
	if m := uint64(c.Admission.MaxRegistrations); m != 0 && m < uint64(c.MinParticipants) {
		return fieldErr("admission.max_registrations", "%d, fewer than min_participants %d: no round could open", m, c.MinParticipants)
	}
	if uint64(c.Admission.MaxExamples) > ledger.MaxProtocolExamples {
		return fieldErr("admission.max_examples", "%d, want at most %d", c.Admission.MaxExamples, uint64(ledger.MaxProtocolExamples))
	}
	if c.Store != "" && c.Store != ledger.StoreWalrus {
		return fieldErr("store", "%q, want empty (floe's own storage nodes) or %q", c.Store, ledger.StoreWalrus)
	}
	if c.Privacy == ledger.PrivacySecAgg {
		if len(c.Auditors) > 0 {
			return fieldErr("auditors", "a secagg job has no recipients: nobody opens an individual update, and any auditor replays the sum with no key")
		}
		a := c.secaggDefaults()
		switch {
		case !(a.Clip > 0) || math.IsInf(a.Clip, 0):
			return fieldErr("secagg.clip", "%v, want a finite number > 0", a.Clip)
		case a.FracBits > 40:
			return fieldErr("secagg.frac_bits", "%d, want 1 to 40", a.FracBits)
		case !(a.Threshold > 0.5 && a.Threshold <= 1):
			return fieldErr("secagg.threshold", "%v, want a number in (0.5, 1]: a coordinator that tells some holders a member dropped and others that it survived must not collect shares of both its secrets", a.Threshold)
		}
		if !(a.Corrupt >= 0 && a.Corrupt < 0.5) {
			return fieldErr("secagg.corrupt", "%v, want a number in [0, 0.5)", a.Corrupt)
		}
		th, _ := decimal.FromFloat(a.Threshold)
		cr, _ := decimal.FromFloat(a.Corrupt)
		if ok, k := ledger.SecAggSafe(th.String(), cr.String(), ledger.SecAggDegree(int(min(uint64(c.CohortSize), ledger.MaxCohort)))); !ok {
			return fieldErr("secagg.threshold", "%v does not protect members from a coordinator colluding with a fraction %v of their holders (with %d holders it needs %d to reveal, which %d corrupt holders and two groups of honest ones told different survivor sets reach twice): raise threshold or lower corrupt", a.Threshold, a.Corrupt, k, ledger.SecAggNeed(th.String(), k), int(a.Corrupt*float64(k)))
		}
		if d, err := time.ParseDuration(a.Step); err != nil || d < time.Millisecond {
			return fieldErr("secagg.step", "%q, want a Go duration of at least 1ms", a.Step)
		}
		examples := uint64(c.Admission.MaxExamples)
		if examples == 0 || examples > ledger.MaxProtocolExamples {
			examples = ledger.MaxProtocolExamples
		}
		if _, err := secagg.RingBits(int(min(uint64(c.CohortSize), ledger.MaxCohort)), examples, a.Clip, int(a.FracBits)); err != nil {
			return fieldErr("secagg", "no ring of at most 64 bits holds the sum of %d updates of up to %d examples each with clip %v and frac_bits %d: lower admission.max_examples, clip or frac_bits", c.CohortSize, examples, a.Clip, a.FracBits)
		}
		if c.NormBound > 0 && !c.Clip {
			return fieldErr("norm_bound", "a secagg job cannot reject an update it never sees: set clip: true, so that members clip to the bound")
		}
		if _, err := aggregate.ParseCanonical(c.Aggregation.Canonical()); err == nil && !meanRule(c.Aggregation.Rule) {
			return fieldErr("aggregation", "%s needs the individual updates; a secagg round yields only their sum: use fedavg, fedavgm, fedadam, fedyogi or fedadagrad", c.Aggregation.Rule)
		}
	}
	if c.Privacy == "plain" && len(c.Auditors) > 0 {
		return fieldErr("auditors", "a plain job has no recipients; use privacy: sealed or remove the auditors")
	}
	seen := map[string]bool{CoordinatorRecipient: true}
	for i, a := range c.Auditors {
		field := fmt.Sprintf("auditors[%d]", i)
		if a.Name == "" {
			return fieldErr(field+".name", "required")
		}
		if seen[a.Name] {
			return fieldErr(field+".name", "%q is taken (by the coordinator or an earlier auditor)", a.Name)
		}
		seen[a.Name] = true
		if _, err := auditorKey(a); err != nil {
			return fieldErr(field+".public_key", "%v", err)
		}
	}
	return nil
}

// auditorKey decodes an auditor's public key and checks its length.
func auditorKey(a Auditor) ([]byte, error) {
	pk, err := base64.StdEncoding.DecodeString(a.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("auditor %q: not base64: %v", a.Name, err)
	}
	if len(pk) != 32 {
		return nil, fmt.Errorf("auditor %q: %d bytes, want a 32-byte X25519 public key (floe keygen --hpke prints one)", a.Name, len(pk))
	}
	return pk, nil
}

func (c Config) deadline() (time.Duration, error) {
	d, err := time.ParseDuration(c.Deadline)
	switch {
	case err != nil:
		return 0, fieldErr("deadline", "%v", err)
	case d < time.Millisecond:
		return 0, fieldErr("deadline", "%v, want at least 1ms", d)
	}
	return d, nil
}

func (c Config) updateLifetime() (time.Duration, error) {
	if c.UpdateLifetime == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(c.UpdateLifetime)
	switch {
	case err != nil:
		return 0, fieldErr("update_lifetime", "%v", err)
	case d < 0:
		return 0, fieldErr("update_lifetime", "%v is negative (\"\" or 0 keeps updates forever)", d)
	case d > 0 && d < time.Millisecond:
		return 0, fieldErr("update_lifetime", "%v, want 0 (forever) or at least 1ms", d)
	}
	return d, nil
}

// checkRule reports rule parameters that no round of quorum updates can
// satisfy. rule must be valid.
func checkRule(rule aggregate.Spec, quorum uint64) error {
	full, err := aggregate.ParseCanonical(rule.Canonical()) // every parameter, defaults filled in
	if err != nil {
		return fieldErr("aggregation", "%v", err)
	}
	p := full.Params
	switch full.Rule {
	case "krum", "multikrum":
		f := uint64(p["f"])
		if need := 2*f + 3; quorum < need {
			return fieldErr("aggregation", "%s with f=%d needs at least 2f+3 = %d updates a round, but the quorum is %d", full.Rule, f, need, quorum)
		}
		if m, ok := p["m"]; ok && uint64(m) > quorum {
			return fieldErr("aggregation", "multikrum selects m=%d updates, more than the quorum %d", uint64(m), quorum)
		}
	case "trimmedmean":
		if k := uint64(math.Floor(p["beta"] * float64(quorum))); 2*k >= quorum {
			return fieldErr("aggregation", "trimmedmean with beta=%g trims 2*%d of %d updates (the quorum), leaving none", p["beta"], k, quorum)
		}
	}
	return nil
}

// Spec builds the signed-job definition of c. coordinator is the
// coordinator's peer ID; coordKey its HPKE key, the first recipient of a
// sealed job (unused for a plain one, may then be nil); arch the resolved
// model architecture (c.Model, with sizes filled in); committee the storage
// nodes' multiaddrs in sliver order. The result passes CheckSpec; the
// caller may then add Eval and the initial model.
func (c Config) Spec(coordinator string, coordKey *seal.Key, arch string, committee []string) (ledger.JobSpec, error) {
	if err := c.Validate(); err != nil {
		return ledger.JobSpec{}, err
	}
	deadline, _ := c.deadline()              // checked by Validate
	lifetime, _ := c.updateLifetime()        // checked by Validate
	lr, err := decimal.FromFloat(c.Train.LR) // finite: checked by Validate
	if err != nil {
		return ledger.JobSpec{}, fieldErr("train.lr", "%v", err)
	}
	mu, err := decimal.FromFloat(c.Train.Mu)
	if err != nil {
		return ledger.JobSpec{}, fieldErr("train.mu", "%v", err)
	}
	wd, err := decimal.FromFloat(c.Train.WeightDecay)
	if err != nil {
		return ledger.JobSpec{}, fieldErr("train.weight_decay", "%v", err)
	}
	bound, err := decimal.FromFloat(c.NormBound)
	if err != nil {
		return ledger.JobSpec{}, fieldErr("norm_bound", "%v", err)
	}
	s := ledger.JobSpec{
		Version: ledger.Version, Name: c.Name, Coordinator: coordinator, Arch: arch,
		Train: ledger.TrainParams{
			Epochs: uint64(c.Train.Epochs), BatchSize: uint64(c.Train.BatchSize),
			LR: lr.String(), Mu: mu.OptionalString(), WeightDecay: wd.OptionalString(),
		},
		Aggregation: c.Aggregation.Canonical(), Privacy: c.Privacy, Committee: committee, Store: c.Store,
		CohortSize: uint64(c.CohortSize), Quorum: c.quorum(), DeadlineMillis: uint64(deadline.Milliseconds()),
		Rounds: uint64(c.Rounds), NormBound: bound.OptionalString(), Clip: c.Clip, Seed: uint64(c.Seed),
		MinParticipants: uint64(c.MinParticipants), UpdateLifetimeMillis: uint64(lifetime.Milliseconds()),
		AllowList:        slices.Compact(slices.Sorted(slices.Values(c.Admission.Allow))),
		MaxRegistrations: uint64(c.Admission.MaxRegistrations), MaxExamples: uint64(c.Admission.MaxExamples),
	}
	if len(s.AllowList) == 0 {
		s.AllowList = nil
	}
	if c.Privacy == ledger.PrivacySecAgg {
		if err := c.secaggSpec(&s); err != nil {
			return ledger.JobSpec{}, err
		}
	}
	if c.Privacy == "sealed" {
		if coordKey == nil {
			return ledger.JobSpec{}, errors.New("job: a sealed job needs the coordinator's HPKE key")
		}
		s.Recipients = append(s.Recipients, coordKey.Recipient(CoordinatorRecipient))
		for _, a := range c.Auditors {
			pk, _ := auditorKey(a) // checked by Validate
			s.Recipients = append(s.Recipients, ledger.Recipient{Name: a.Name, KEM: seal.SuiteName, PublicKey: pk})
		}
	}
	if err := CheckSpec(&s); err != nil {
		return ledger.JobSpec{}, err
	}
	return s, nil
}

// meanRule reports whether rule needs only the weighted mean of a round's
// updates (the FedAvg family), as secure aggregation gives.
func meanRule(rule string) bool {
	switch rule {
	case "fedavg", "fedavgm", "fedadam", "fedyogi", "fedadagrad":
		return true
	}
	return false
}

// secaggSpec fills in s.SecAgg from c's secagg block, choosing the ring.
func (c Config) secaggSpec(s *ledger.JobSpec) error {
	a := c.secaggDefaults()
	clip, err := decimal.FromFloat(a.Clip)
	if err != nil {
		return fieldErr("secagg.clip", "%v", err)
	}
	th, err := decimal.FromFloat(a.Threshold)
	if err != nil {
		return fieldErr("secagg.threshold", "%v", err)
	}
	step, _ := time.ParseDuration(a.Step) // checked by Validate
	bits, err := secagg.RingBits(int(min(s.CohortSize, ledger.MaxCohort)), s.ExamplesBound(), clip.Float64(), int(a.FracBits))
	if err != nil {
		return fieldErr("secagg", "no ring of at most 64 bits holds the sum of %d updates of up to %d examples each with clip %v and frac_bits %d: lower admission.max_examples, clip or frac_bits", s.CohortSize, s.ExamplesBound(), a.Clip, a.FracBits)
	}
	cr, err := decimal.FromFloat(a.Corrupt)
	if err != nil {
		return fieldErr("secagg.corrupt", "%v", err)
	}
	s.SecAgg = &ledger.SecAggParams{Bits: uint64(bits), FracBits: uint64(a.FracBits), Clip: clip.String(), Threshold: th.String(),
		StepMillis: uint64(step.Milliseconds()), Corrupt: cr.String()}
	return nil
}

// CheckSpec is s.Validate plus the checks that need package aggregate: the
// aggregation is a canonical rule description whose parameters a round of
// s.Quorum updates can satisfy. It does not modify s.
func CheckSpec(s *ledger.JobSpec) error {
	if err := s.Validate(); err != nil {
		return err
	}
	rule, err := aggregate.ParseCanonical(s.Aggregation)
	if err != nil {
		return &ledger.JobError{Field: "aggregation", Msg: err.Error()}
	}
	if s.Privacy == ledger.PrivacySecAgg && !meanRule(rule.Rule) {
		return &ledger.JobError{Field: "aggregation", Msg: rule.Rule + " needs the individual updates; a secagg round yields only their sum"}
	}
	if err := checkRule(rule, s.Quorum); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return &ledger.JobError{Field: e.Field, Msg: e.Msg}
		}
		return err
	}
	return nil
}

// DecodeYAML decodes b into v with the YAML library's options, and turns a
// panic of the library on hostile input into an error: goccy/go-yaml
// v1.19.2 dereferences a nil pointer on some tagged values (for example
// "faults: !00000 0"), and a file must never crash floe. v may be partly
// filled when it returns an error.
func DecodeYAML(b []byte, v any, opts ...yaml.DecodeOption) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed YAML: the parser failed on it (%v)", r)
		}
	}()
	return yaml.UnmarshalWithOptions(b, v, opts...)
}
