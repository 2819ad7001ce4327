package main

import (
	"flag"
	"net/url"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/p2p"
	"github.com/floe-fl/floe/blob/walrus"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/participant"
)

// walrusFlags is how the usage lines and errors spell walrus mode.
const walrusFlags = "--store walrus --publisher URL --aggregator URL"

// storeFlags choose where a command's blobs are: on floe's storage nodes
// (--committee FILE, the default), or on the Walrus network (--store walrus
// --publisher URL --aggregator URL [--epochs N]), where no committee and
// no storage node is involved. Commands that only read need no publisher
// and take no --epochs.
type storeFlags struct {
	fs                                      *flag.FlagSet
	writes                                  bool
	committee, store, publisher, aggregator *string
	epochs                                  *int // nil unless writes
}

func addStoreFlags(fs *flag.FlagSet, committeeHelp string, writes bool) *storeFlags {
	f := &storeFlags{fs: fs, writes: writes}
	f.committee = fs.String("committee", "", committeeHelp)
	f.store = fs.String("store", "", "blob store: empty for floe's storage nodes (--committee), or walrus for the Walrus network (--publisher, --aggregator; no committee)")
	pubHelp := "with --store walrus: base URL of a Walrus publisher (writes), e.g. https://publisher.walrus-testnet.walrus.space"
	if !writes {
		pubHelp = "with --store walrus: base URL of a Walrus publisher (unused: this command only reads)"
	}
	f.publisher = fs.String("publisher", "", pubHelp)
	f.aggregator = fs.String("aggregator", "", "with --store walrus: base URL of a Walrus aggregator (reads), e.g. https://aggregator.walrus-testnet.walrus.space")
	if writes {
		f.epochs = fs.Int("epochs", walrus.DefaultEpochs, "with --store walrus: storage epochs bought for blobs kept forever (Walrus sells at most 53 ahead)")
	}
	return f
}

// walrus reports whether the blobs are on Walrus.
func (f *storeFlags) walrus() bool { return *f.store == ledger.StoreWalrus }

// jobStore is the JobSpec.Store of the jobs these flags reach: "" or
// ledger.StoreWalrus.
func (f *storeFlags) jobStore() string { return *f.store }

// check reports flags that do not fit together as a usage error. Call it
// after parsing.
func (f *storeFlags) check() error {
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	switch *f.store {
	case "":
		for _, n := range []string{"publisher", "aggregator", "epochs"} {
			if set[n] {
				return usagef("--%s is for --store walrus (without it, blobs are on floe's storage nodes: --committee FILE)", n)
			}
		}
		if *f.committee == "" {
			return usagef("--committee FILE is required (or %s for a job on Walrus)", walrusFlags)
		}
	case ledger.StoreWalrus:
		if *f.committee != "" {
			return usagef("--store walrus takes no --committee: the blobs are on Walrus, not on floe's storage nodes")
		}
		if *f.aggregator == "" || (f.writes && *f.publisher == "") {
			if f.writes {
				return usagef("--store walrus needs --publisher URL and --aggregator URL (one daemon may be both)")
			}
			return usagef("--store walrus needs --aggregator URL")
		}
		if f.epochs != nil && *f.epochs < 1 {
			return usagef("--epochs must be at least 1, got %d", *f.epochs)
		}
		if _, err := f.walrusStore(); err != nil {
			return err
		}
	default:
		return usagef("--store %q: want walrus, or no --store for floe's storage nodes (--committee FILE)", *f.store)
	}
	return nil
}

// walrusStore is a Walrus client on the flags' publisher and aggregator (a
// reader without a publisher gets the aggregator's URL for it, never used).
func (f *storeFlags) walrusStore() (*walrus.Store, error) {
	for _, u := range []struct{ flag, url string }{{"publisher", *f.publisher}, {"aggregator", *f.aggregator}} {
		if u.url != "" && !baseURL(u.url) {
			return nil, usagef("--%s %q: want http(s)://host[:port][/path]", u.flag, u.url)
		}
	}
	pub := *f.publisher
	if pub == "" {
		pub = *f.aggregator
	}
	var opts []walrus.Option
	if f.epochs != nil {
		opts = append(opts, walrus.WithEpochs(*f.epochs))
	}
	st, err := walrus.New(pub, *f.aggregator, opts...)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return st, nil
}

// open returns the committee file's committee, or in walrus mode no
// committee and the Walrus client.
func (f *storeFlags) open() (blob.Committee, *walrus.Store, error) {
	if f.walrus() {
		st, err := f.walrusStore()
		return blob.Committee{}, st, err
	}
	com, err := blob.ReadCommitteeFile(*f.committee)
	return com, nil, err
}

// storeOn is the blob store of a command with endpoint ep: the Walrus
// client ws, or a client of the committee on ep's host.
func storeOn(ep *endpoint, ws *walrus.Store) blob.Store {
	if ws != nil {
		return ws
	}
	return p2p.Store{Client: ep.client}
}

// baseURL reports whether s is a URL walrus.New takes: http(s), a host,
// no query or fragment.
func baseURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.RawQuery == "" && u.Fragment == ""
}

// storeKind returns participant.Config.StoreKind for storeOn(ep, ws).
func storeKind(ws *walrus.Store) string {
	if ws != nil {
		return ledger.StoreWalrus
	}
	return participant.StoreCommittee
}
