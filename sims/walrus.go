package sims

import (
	"fmt"

	"github.com/floe-fl/floe/blob/walrus"
	"github.com/floe-fl/floe/blob/walrus/walrustest"
	"github.com/floe-fl/floe/ledger"
)

// validateWalrus checks the Walrus URLs of a run whose Store is walrus.
func (o *Options) validateWalrus() error {
	if o.Store != ledger.StoreWalrus || o.Publisher == "" {
		return nil
	}
	if _, err := walrus.New(o.Publisher, o.Aggregator); err != nil {
		return fmt.Errorf("sims: %w", err)
	}
	return nil
}

// startWalrus, in walrus mode, starts the in-process Walrus publisher and
// aggregator (or takes the ones Options name). stopWalrus closes the
// server it started; Run defers it first, so the server outlives
// everything that uses it, the final audit included.
func (s *sim) startWalrus() error {
	if s.o.Store != ledger.StoreWalrus {
		return nil
	}
	if s.o.Publisher != "" {
		s.walrusPub, s.walrusAgg = s.o.Publisher, s.o.Aggregator
		return nil
	}
	s.walrusSrv = walrustest.New()
	s.walrusPub, s.walrusAgg = s.walrusSrv.URL, s.walrusSrv.URL
	return nil
}

func (s *sim) stopWalrus() {
	if s.walrusSrv != nil {
		s.walrusSrv.Close()
	}
}

// walrusStore is a new Walrus client, as each process of a real federation
// has its own: the coordinator's, each participant's and the auditor's.
func (s *sim) walrusStore() (*walrus.Store, error) {
	st, err := walrus.New(s.walrusPub, s.walrusAgg)
	if err != nil {
		return nil, fmt.Errorf("sims: %w", err)
	}
	return st, nil
}
