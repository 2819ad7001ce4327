package participant

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/round"
)

// secaggRound takes part in a secagg round (see round.SAStep): keys,
// shares, then training, the masked input, the survivor signature and the
// reveal, each after the coordinator's view moved on. The member's rules
// (round.SAMember) decide what it sends; a view it refuses ends its part
// in the round, which the coordinator then treats as a dropout.
func (p *Participant) secaggRound(ctx context.Context, t *round.Task, train func() (*model.Result, []float32, error)) error {
	job := &p.job.Job
	log := p.cfg.Logger.With("round", t.Round)
	var rnd io.Reader = rand.Reader
	if p.cfg.Rand != nil {
		rnd = p.cfg.Rand(t.Round)
	}
	mem, err := round.NewSAMember(job, t.Round, p.self, p.cfg.Key, rnd)
	if err != nil {
		return err
	}
	keys, err := mem.Keys()
	if err != nil {
		return err
	}
	if ok, err := p.saSend(ctx, Request{Op: round.OpKeys, Round: t.Round, Keys: keys}); !ok || err != nil {
		return err
	}
	v, err := p.waitStep(ctx, t.Round, round.SAKeys)
	if v == nil || err != nil {
		return err
	}
	sh, err := mem.Shares(v)
	if err != nil {
		return p.saRefused(log, err)
	}
	if ok, err := p.saSend(ctx, Request{Op: round.OpShares, Round: t.Round, Shares: sh}); !ok || err != nil {
		return err
	}
	res, delta, err := train()
	if err != nil {
		return err
	}
	enc := make([]uint64, len(delta)+1)
	var seed [32]byte
	if _, err := io.ReadFull(rnd, seed[:]); err != nil {
		return err
	}
	if err := round.SecAggUpdate(job, enc, delta, uint64(res.NumExamples), seed); err != nil {
		return &PermanentError{fmt.Errorf("participant: encode the update of round %d: %w", t.Round, err)}
	}
	if v, err = p.waitStep(ctx, t.Round, round.SAShares); v == nil || err != nil {
		return err
	}
	masked, err := mem.Masked(v, enc)
	if err != nil {
		return p.saRefused(log, err)
	}
	if err := p.submit(ctx, t.Round, blob.Parts{masked}, ledger.Sum(masked), res); err != nil {
		return err
	}
	if v, err = p.waitStep(ctx, t.Round, round.SAMasked); v == nil || err != nil {
		return err
	}
	sig, err := mem.SignSurvivors(v)
	if err != nil {
		return p.saRefused(log, err)
	}
	if ok, err := p.saSend(ctx, Request{Op: round.OpSurvivors, Round: t.Round, Sig: sig}); !ok || err != nil {
		return err
	}
	if v, err = p.waitStep(ctx, t.Round, round.SASurvivors); v == nil || err != nil {
		return err
	}
	rev, err := mem.Reveal(v)
	if err != nil {
		return p.saRefused(log, err)
	}
	_, err = p.saSend(ctx, Request{Op: round.OpReveal, Round: t.Round, Reveal: rev})
	return err
}

// saRefused logs a view the member refuses: its part in the round ends.
func (p *Participant) saRefused(log interface{ Warn(string, ...any) }, err error) error {
	if errors.Is(err, round.ErrSARefuse) {
		log.Warn("secagg: leaving the round", "err", err)
		return nil
	}
	return err
}

// saSend sends one secagg message; ok is false when the coordinator
// refused it (logged: the member's part in the round ends).
func (p *Participant) saSend(ctx context.Context, req Request) (ok bool, err error) {
	resp, err := p.call(ctx, req)
	if err != nil {
		return false, err
	}
	if err := checkDone(resp); err != nil {
		return false, err
	}
	if resp.Status != round.RespOK {
		p.cfg.Logger.Warn("secagg message refused", "op", req.Op, "round", req.Round, "status", resp.Status, "reason", resp.Reason)
		return false, nil
	}
	return true, nil
}

// waitStep long-polls the coordinator until round r is past step after,
// and returns the view; nil when the round is over for this member (it
// closed, failed, or the member is not in it).
func (p *Participant) waitStep(ctx context.Context, r uint64, after round.SAStep) (*round.SAView, error) {
	for {
		resp, err := p.call(ctx, Request{Op: round.OpSecAgg, Round: r, AfterStep: after})
		if err != nil {
			return nil, err
		}
		if err := checkDone(resp); err != nil {
			return nil, err
		}
		switch resp.Status {
		case round.RespWait:
			continue
		case round.RespOK:
			v := resp.SecAgg
			if v == nil || v.Failed != "" || v.Round != r {
				return nil, nil
			}
			return v, nil
		default:
			return nil, fmt.Errorf("participant: secagg view of round %d: %s %s", r, resp.Status, resp.Reason)
		}
	}
}
