package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/seal"
	"github.com/goccy/go-yaml"
)

// jobFile is the YAML job definition (see README "Job file").
type jobFile struct {
	Name            string         `yaml:"name"`
	Model           string         `yaml:"model"`
	Seed            uint64         `yaml:"seed"`
	Rounds          uint64         `yaml:"rounds"`
	CohortSize      uint64         `yaml:"cohort_size"`
	Quorum          uint64         `yaml:"quorum"`
	MinParticipants uint64         `yaml:"min_participants"`
	Deadline        string         `yaml:"deadline"`
	Train           jobTrain       `yaml:"train"`
	Aggregation     aggregate.Spec `yaml:"aggregation"`
	Privacy         string         `yaml:"privacy"`
	NormBound       float64        `yaml:"norm_bound"`
	Clip            bool           `yaml:"clip"`
	UpdateLifetime  string         `yaml:"update_lifetime"`
	Auditors        []jobAuditor   `yaml:"auditors"`
}

type jobTrain struct {
	Epochs      uint64  `yaml:"epochs"`
	BatchSize   uint64  `yaml:"batch_size"`
	LR          float64 `yaml:"lr"`
	Mu          float64 `yaml:"mu"`
	WeightDecay float64 `yaml:"weight_decay"`
}

type jobAuditor struct {
	Name      string `yaml:"name"`
	PublicKey string `yaml:"public_key"` // base64 of the X25519 public key (floe keygen --hpke prints it)
}

// readJobFile parses and checks a job file.
func readJobFile(path string) (*jobFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("job file: %w", err)
	}
	return parseJobFile(b, path)
}

// parseJobFile parses and checks the bytes of a job file named path.
func parseJobFile(b []byte, path string) (*jobFile, error) {
	var j jobFile
	if err := yaml.UnmarshalWithOptions(b, &j, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
		return nil, fmt.Errorf("job file %s: %s", path, yaml.FormatError(err, false, true))
	}
	if j.Privacy == "" {
		j.Privacy = "sealed"
	}
	if j.Deadline == "" {
		j.Deadline = "60s"
	}
	if j.Aggregation.Rule == "" {
		j.Aggregation.Rule = "fedavg"
	}
	switch {
	case j.Model == "":
		return nil, fmt.Errorf("job file %s: model is required (logreg:IN-CLASSES or mlp:IN-H1-...-CLASSES)", path)
	case j.Rounds == 0:
		return nil, fmt.Errorf("job file %s: rounds must be at least 1", path)
	case j.CohortSize == 0:
		return nil, fmt.Errorf("job file %s: cohort_size must be at least 1", path)
	case j.Quorum > j.CohortSize:
		return nil, fmt.Errorf("job file %s: quorum %d exceeds cohort_size %d", path, j.Quorum, j.CohortSize)
	case j.Train.Epochs == 0 || j.Train.BatchSize == 0 || !(j.Train.LR > 0):
		return nil, fmt.Errorf("job file %s: train needs epochs >= 1, batch_size >= 1 and lr > 0", path)
	case j.Privacy != "sealed" && j.Privacy != "plain":
		return nil, fmt.Errorf("job file %s: privacy must be sealed or plain, not %q", path, j.Privacy)
	case j.NormBound < 0:
		return nil, fmt.Errorf("job file %s: norm_bound must be non-negative", path)
	}
	if _, err := time.ParseDuration(j.Deadline); err != nil {
		return nil, fmt.Errorf("job file %s: deadline: %v", path, err)
	}
	if j.UpdateLifetime != "" {
		if _, err := time.ParseDuration(j.UpdateLifetime); err != nil {
			return nil, fmt.Errorf("job file %s: update_lifetime: %v", path, err)
		}
	}
	if err := j.Aggregation.Validate(); err != nil {
		return nil, fmt.Errorf("job file %s: aggregation: %v", path, err)
	}
	for _, a := range j.Auditors {
		if _, err := base64.StdEncoding.DecodeString(a.PublicKey); err != nil || a.Name == "" {
			return nil, fmt.Errorf("job file %s: auditor %q needs a name and a base64 public_key", path, a.Name)
		}
	}
	return &j, nil
}

func fmtFloat(f float64) string {
	if f == 0 {
		return ""
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// spec turns the job file into a JobSpec (without coordinator, model or committee).
func (j *jobFile) spec(coordinator string, coordKey *seal.Key, arch string, committee []string) ledger.JobSpec {
	d, _ := time.ParseDuration(j.Deadline)
	s := ledger.JobSpec{
		Version: ledger.Version, Name: j.Name, Coordinator: coordinator, Arch: arch,
		Train:       ledger.TrainParams{Epochs: j.Train.Epochs, BatchSize: j.Train.BatchSize, LR: strconv.FormatFloat(j.Train.LR, 'g', -1, 64), Mu: fmtFloat(j.Train.Mu), WeightDecay: fmtFloat(j.Train.WeightDecay)},
		Aggregation: j.Aggregation.Canonical(), Privacy: j.Privacy, Committee: committee,
		CohortSize: j.CohortSize, Quorum: max(j.Quorum, 1), DeadlineMillis: uint64(d.Milliseconds()), Rounds: j.Rounds,
		NormBound: fmtFloat(j.NormBound), Clip: j.Clip, Seed: j.Seed, MinParticipants: max(j.MinParticipants, 1),
	}
	if j.UpdateLifetime != "" {
		lt, _ := time.ParseDuration(j.UpdateLifetime)
		s.UpdateLifetimeMillis = uint64(lt.Milliseconds())
	}
	if j.Privacy == "sealed" {
		s.Recipients = append(s.Recipients, coordKey.Recipient("coordinator"))
		for _, a := range j.Auditors {
			pk, _ := base64.StdEncoding.DecodeString(a.PublicKey)
			s.Recipients = append(s.Recipients, ledger.Recipient{Name: a.Name, KEM: seal.SuiteName, PublicKey: pk})
		}
	}
	return s
}
