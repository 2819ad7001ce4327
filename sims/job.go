package sims

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/floe-fl/floe/job"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/round"
	"github.com/floe-fl/floe/seal"
)

// jobConfig is the simulated job, built and checked by package job like a
// job file (without the auditor, whose key Run derives).
func (o *Options) jobConfig() job.Config {
	c := job.Default()
	c.Name, c.Model, c.Seed = "sim", o.Arch, job.Uint(o.Seed)
	c.Rounds, c.CohortSize, c.Quorum = job.Uint(o.Rounds), job.Uint(min(o.Cohort, o.Participants)), job.Uint(o.Quorum)
	c.MinParticipants, c.Deadline = job.Uint(o.Participants), o.Deadline.String()
	c.Train = job.Train{Epochs: job.Uint(o.Epochs), BatchSize: job.Uint(o.Batch), LR: o.LR, Mu: o.Mu}
	c.Aggregation, c.Privacy, c.NormBound = o.Rule, o.Privacy, o.NormBound
	c.Store = o.Store
	return c
}

// prepare loads the data sets, fits the model to them and clears what a
// previous run left in Out: a simulation owns what it leaves there.
func (s *sim) prepare() error {
	var err error
	if s.data, s.eval, err = loadData(s.o); err != nil {
		return err
	}
	if len(s.o.InitialModel) > 0 {
		// The job brings its model as a file: its architecture is the
		// file's, trained by the built-in trainer only if it is a built-in
		// one.
		if s.archName, err = model.InitialArch(s.o.InitialModel); err != nil {
			return fmt.Errorf("sims: initial model: %w", err)
		}
		if !model.IsBuiltin(s.archName) {
			if s.o.Trainer == nil {
				return fmt.Errorf("sims: the initial model is not a built-in architecture (%s): it needs a trainer program", s.archName)
			}
			if s.o.Attackers > 0 {
				return fmt.Errorf("sims: attackers craft updates with the built-in trainer, and the initial model is not a built-in architecture (%s)", s.archName)
			}
		} else if s.arch, err = model.ParseArch(s.archName); err != nil {
			return err
		}
	} else {
		if s.arch, err = model.ParseArch(s.o.Arch); err != nil {
			return err
		}
		if s.arch, err = s.arch.ForData(s.data[0]); err != nil {
			return err
		}
		s.archName = s.arch.String()
	}
	if err := os.MkdirAll(s.o.Out, 0o755); err != nil {
		return fmt.Errorf("sims: %w", err)
	}
	for _, d := range []string{"nodes", "coordinator", "auditor.hpke", "head", "committee"} {
		if err := os.RemoveAll(filepath.Join(s.o.Out, d)); err != nil {
			return fmt.Errorf("sims: %w", err)
		}
	}
	return nil
}

// loadData returns per-participant datasets and the held-out evaluation set.
func loadData(o *Options) ([]*model.Dataset, *model.Dataset, error) {
	switch o.Dataset {
	case "synthetic":
		return model.SyntheticFederated(o.Alpha, o.Beta, o.Participants, o.Seed)
	case "mnist":
		train, test, err := model.LoadMNIST(o.DataDir)
		if err != nil {
			return nil, nil, err
		}
		parts, err := partition(train.Y, o)
		if err != nil {
			return nil, nil, err
		}
		sets := make([]*model.Dataset, len(parts))
		for i, p := range parts {
			sets[i] = train.Subset(p)
		}
		return sets, test, nil
	}
	return nil, nil, fmt.Errorf("sims: unknown dataset %q (synthetic or mnist)", o.Dataset)
}

func partition(labels []int, o *Options) ([][]int, error) {
	switch o.Partition {
	case "dirichlet":
		return model.PartitionDirichlet(labels, o.Participants, o.DirAlpha, o.Seed), nil
	case "shards":
		if o.Shards < 1 || o.Participants*o.Shards > len(labels) {
			return nil, fmt.Errorf("sims: %d participants x %d shards need at least that many examples, have %d", o.Participants, o.Shards, len(labels))
		}
		return model.PartitionShards(labels, o.Participants, o.Shards, o.Seed), nil
	case "iid", "":
		return model.PartitionIID(labels, o.Participants, o.Seed), nil
	case "fang":
		return model.Partition(labels, o.Participants, "fang:"+strconv.FormatFloat(o.Bias, 'g', -1, 64), o.Seed)
	}
	return nil, fmt.Errorf("sims: unknown partition %q (iid, shards, dirichlet or fang)", o.Partition)
}

// jobSpec builds the job through package job, for the coordinator whose
// host is coord and whose HPKE key is hkey. A sealed job gets an auditor
// recipient, whose key is left in Out/auditor.hpke so that a separate
// `floe audit --key` can open the updates.
func (s *sim) jobSpec(coord string, hkey *seal.Key) (ledger.JobSpec, error) {
	jc := s.o.jobConfig()
	if s.o.Privacy == "sealed" {
		aseed := sha256.Sum256([]byte("floe/sim-auditor/v1\x00" + strconv.FormatUint(s.o.Seed, 10)))
		var err error
		if s.auditorKey, err = seal.DeriveKey(aseed[:]); err != nil {
			return ledger.JobSpec{}, err
		}
		if err := s.auditorKey.WriteFile(filepath.Join(s.o.Out, "auditor.hpke")); err != nil {
			return ledger.JobSpec{}, err
		}
		jc.Auditors = []job.Auditor{{Name: AuditorName, PublicKey: base64.StdEncoding.EncodeToString(s.auditorKey.PublicKey())}}
	}
	spec, err := jc.Spec(coord, hkey, s.archName, s.com.Addrs())
	if err != nil {
		return ledger.JobSpec{}, fmt.Errorf("sims: %w", err)
	}
	spec.Eval = "held-out " + s.o.Dataset
	return spec, nil
}

// initialModel is the job's version 0: Options.InitialModel, or the
// architecture initialised from the seed.
func (s *sim) initialModel(spec *ledger.JobSpec) ([]byte, error) {
	if len(s.o.InitialModel) > 0 {
		return s.o.InitialModel, nil
	}
	return model.MarshalSafetensors(s.arch.Init(s.o.Seed), round.ModelMeta(spec, 0))
}
