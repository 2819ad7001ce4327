package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/floe-fl/floe/atomicfile"
	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/p2p"
	"github.com/floe-fl/floe/blob/walrus"
)

const blobUsage = `Usage: floe blob <put|get|stat> [flags]

  put   store a file on a committee (or on Walrus); prints the blob ID
  get   read a blob into a file
  stat  say which committee members hold a valid sliver (on Walrus: whether
        the aggregator serves the blob)

Each takes --committee FILE (floe's storage nodes) or --store walrus
--aggregator URL (and --publisher URL [--epochs N] for put).

Examples:
  floe blob put --committee committee.txt --cert-out model.cert model.safetensors
  floe blob get --committee committee.txt Xq3b...Zk -o model.safetensors
  floe blob stat --committee committee.txt Xq3b...Zk
  floe blob put --store walrus --publisher https://publisher.walrus-testnet.walrus.space \
      --aggregator https://aggregator.walrus-testnet.walrus.space model.safetensors
`

func runBlob(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		os.Stderr.WriteString(blobUsage)
		if len(args) == 0 {
			return usagef("missing subcommand (put, get or stat)")
		}
		return flag.ErrHelp
	}
	switch args[0] {
	case "put":
		return runBlobPut(args[1:])
	case "get":
		return runBlobGet(args[1:])
	case "stat":
		return runBlobStat(args[1:])
	}
	return usagef("unknown blob subcommand %q (put, get or stat)", args[0])
}

type blobFlags struct {
	store   *storeFlags
	timeout *time.Duration
}

func addBlobFlags(fs *flag.FlagSet, writes bool) blobFlags {
	return blobFlags{
		store:   addStoreFlags(fs, "committee file: one multiaddr with /p2p/ID a line, in sliver order", writes),
		timeout: fs.Duration("timeout", 10*time.Minute, "overall time limit"),
	}
}

// blobConn is a blob command's store: a client of the committee on a
// dial-only host, or a Walrus client (ws, no host).
type blobConn struct {
	client *p2p.Client
	host   host.Host
	ws     *walrus.Store
}

// Close stops the committee client and its host (nothing for Walrus).
func (c *blobConn) Close() {
	if c.client != nil {
		c.client.Close()
	}
	if c.host != nil {
		c.host.Close()
	}
}

// open reads the committee and starts a dial-only host with a fresh key and
// a client on it, or makes the Walrus client.
func (f blobFlags) open() (*blobConn, context.Context, context.CancelFunc, error) {
	if err := f.store.check(); err != nil {
		return nil, nil, nil, err
	}
	if *f.timeout <= 0 {
		return nil, nil, nil, usagef("--timeout must be positive, got %v", *f.timeout)
	}
	com, ws, err := f.store.open()
	if err != nil {
		return nil, nil, nil, err
	}
	c := &blobConn{ws: ws}
	if ws == nil {
		ep, err := openEndpoint("", nil, true, com)
		if err != nil {
			return nil, nil, nil, err
		}
		c.client, c.host = ep.client, ep.host
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel2 := context.WithTimeout(ctx, *f.timeout)
	return c, ctx, func() { cancel2(); cancel() }, nil
}

func runBlobPut(args []string) error {
	fs := newFlagSet("blob put", "(--committee FILE | "+walrusFlags+" [--epochs N]) [--cert-out FILE] [--lifetime DURATION] PATH", `  floe blob put --committee committee.txt update.bin
  floe blob put --committee committee.txt --cert-out update.cert --lifetime 24h update.bin
  floe blob put --store walrus --publisher URL --aggregator URL --lifetime 336h update.bin
      (on Walrus a lifetime buys the epochs that cover it; none buys --epochs)`)
	bf := addBlobFlags(fs, true)
	certOut := fs.String("cert-out", "", "write the availability certificate (CBOR) here")
	lifetime := fs.Duration("lifetime", 0, "nodes delete the blob this long after storing it (0: keep)")
	waitAll := fs.Bool("wait-all", false, "wait for every node instead of returning at n-f acknowledgements (storage nodes only)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one PATH to store, got %d arguments", len(pos))
	}
	if *lifetime < 0 {
		return usagef("--lifetime must not be negative")
	}
	if *waitAll && bf.store.walrus() {
		return usagef("--wait-all is for floe's storage nodes; a Walrus publisher answers once the blob is certified")
	}
	in, err := os.Open(pos[0])
	if err != nil {
		return fmt.Errorf("blob put: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return fmt.Errorf("blob put: %w", err)
	}
	conn, ctx, cancel, err := bf.open()
	if err != nil {
		return err
	}
	defer conn.Close()
	defer cancel()
	// A regular file is streamed to the committee or to Walrus (read twice,
	// never held whole); anything else (a pipe, a device) is read into
	// memory first.
	var data []byte
	if !st.Mode().IsRegular() {
		if data, err = io.ReadAll(in); err != nil {
			return fmt.Errorf("blob put: %w", err)
		}
	}
	if conn.ws != nil {
		var id [32]byte
		var cert []byte
		if data != nil {
			id, cert, err = conn.ws.Put(ctx, data, *lifetime)
		} else {
			id, cert, err = conn.ws.PutFrom(ctx, in, st.Size(), *lifetime)
		}
		if err != nil {
			return err
		}
		if err := writeCert(*certOut, cert); err != nil {
			return err
		}
		fmt.Println(blob.ID(id))
		return nil
	}
	c := conn.client
	var opts []p2p.PutOption
	if *lifetime > 0 {
		opts = append(opts, p2p.WithLifetime(*lifetime))
	}
	if *waitAll {
		opts = append(opts, p2p.WithWaitAll())
	}
	var (
		mu      sync.Mutex
		results []p2p.NodeError
	)
	opts = append(opts, p2p.WithNodeResults(func(r p2p.NodeError) {
		mu.Lock()
		defer mu.Unlock()
		results = append(results, r)
	}))
	var id blob.ID
	var cert *blob.Certificate
	if data != nil {
		id, cert, err = c.Put(ctx, data, opts...)
	} else {
		id, cert, err = c.PutFrom(ctx, in, st.Size(), opts...)
	}
	if err != nil {
		c.Close()
		return err
	}
	// Let the remaining writes and the certificate push finish before exit.
	c.Wait()
	c.Close()
	mu.Lock()
	reportAcks(os.Stderr, c.Committee().N(), results)
	mu.Unlock()
	b, err := cert.Marshal()
	if err != nil {
		return err
	}
	if err := writeCert(*certOut, b); err != nil {
		return err
	}
	fmt.Println(id)
	return nil
}

// writeCert writes a certificate to path, if set.
func writeCert(path string, cert []byte) error {
	if path == "" {
		return nil
	}
	return atomicfile.WriteFile(path, cert, 0o644)
}

func runBlobGet(args []string) error {
	fs := newFlagSet("blob get", "(--committee FILE | --store walrus --aggregator URL) ID -o PATH", `  floe blob get --committee committee.txt Xq3b...Zk -o model.safetensors
  floe blob get --committee committee.txt Xq3b...Zk -o -     (to stdout)
  floe blob get --store walrus --aggregator https://aggregator.walrus-testnet.walrus.space Xq3b...Zk -o model.safetensors`)
	bf := addBlobFlags(fs, false)
	out := fs.String("o", "", "output file ('-' for stdout)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *out == "" {
		return usagef("-o PATH is required")
	}
	id, err := oneID(pos)
	if err != nil {
		return err
	}
	conn, ctx, cancel, err := bf.open()
	if err != nil {
		return err
	}
	defer conn.Close()
	defer cancel()
	getTo := func(ctx context.Context, w p2p.ReadWriterAt) (int64, error) { return conn.client.GetTo(ctx, id, w) }
	if conn.ws != nil {
		getTo = func(ctx context.Context, w p2p.ReadWriterAt) (int64, error) { return conn.ws.GetTo(ctx, id, w) }
	}
	return getToPath(ctx, getTo, *out)
}

// getToPath reads a blob into out ('-': stdout) with getTo (the committee's
// or Walrus's GetTo), never holding the blob in memory. A regular file (or a new path)
// is written as atomicfile writes: into a temporary file beside it, synced
// and renamed over it, so a failed read leaves the old file; a link to a
// regular file is followed. A device or FIFO (stdout, /dev/null) gets the
// blob in place once it is read whole into an unnamed temporary file.
func getToPath(ctx context.Context, getTo func(context.Context, p2p.ReadWriterAt) (int64, error), out string) error {
	var dst *os.File
	if out == "-" {
		dst = os.Stdout
	} else if fi, err := os.Stat(out); err == nil && !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return fmt.Errorf("blob get: %s is a directory", out)
		}
		if dst, err = os.OpenFile(out, os.O_WRONLY, 0); err != nil {
			return fmt.Errorf("blob get: %w", err)
		}
		defer dst.Close()
	}
	if dst != nil {
		tmp, err := os.CreateTemp("", "floe-blob-get-*")
		if err != nil {
			return fmt.Errorf("blob get: %w", err)
		}
		os.Remove(tmp.Name())
		defer tmp.Close()
		n, err := getTo(ctx, tmp)
		if err != nil {
			return err
		}
		if _, err := io.CopyBuffer(dst, io.NewSectionReader(tmp, 0, n), make([]byte, 1<<20)); err != nil {
			return fmt.Errorf("blob get: write %s: %w", out, err)
		}
		return nil
	}
	target := out
	if fi, err := os.Lstat(out); err == nil && fi.Mode().Type()&fs.ModeSymlink != 0 {
		if target, err = filepath.EvalSymlinks(out); err != nil {
			return fmt.Errorf("blob get: %w", err)
		}
	}
	f, err := createBeside(target, 0o644)
	if err != nil {
		return fmt.Errorf("blob get: %w", err)
	}
	_, err = getTo(ctx, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), target)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(target))
}

// createBeside creates a new empty file ".BASE.tmp-RANDOM" beside path, with
// perm before the umask (os.CreateTemp would fix the mode at 0600).
func createBeside(path string, perm os.FileMode) (*os.File, error) {
	dir, base := filepath.Split(path)
	base = base[:min(len(base), 200)] // the name stays under NAME_MAX
	var rnd [8]byte
	for range 100 {
		rand.Read(rnd[:])
		f, err := os.OpenFile(filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(rnd[:])), os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("no unused temporary name beside %s", path)
}

func runBlobStat(args []string) error {
	fs := newFlagSet("blob stat", "(--committee FILE | --store walrus --aggregator URL) [--json] ID", `  floe blob stat --committee committee.txt Xq3b...Zk
  floe blob stat --store walrus --aggregator https://aggregator.walrus-testnet.walrus.space Xq3b...Zk`)
	bf := addBlobFlags(fs, false)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	id, err := oneID(pos)
	if err != nil {
		return err
	}
	conn, ctx, cancel, err := bf.open()
	if err != nil {
		return err
	}
	defer conn.Close()
	defer cancel()
	if conn.ws != nil {
		return walrusStat(ctx, conn.ws, id, *asJSON)
	}
	c := conn.client
	st, err := c.Stat(ctx, id)
	if err != nil {
		return err
	}
	valid := 0
	for _, s := range st {
		if s.State == p2p.SliverValid {
			valid++
		}
	}
	com := c.Committee()
	if *asJSON {
		type row struct {
			Index int    `json:"index"`
			Peer  string `json:"peer"`
			State string `json:"state"`
			Error string `json:"error,omitempty"`
		}
		rows := make([]row, len(st))
		for i, s := range st {
			rows[i] = row{s.Index, s.Peer.String(), s.State.String(), s.Err}
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"id": id.String(), "n": com.N(), "k": com.K(), "valid": valid, "nodes": rows})
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "INDEX\tPEER\tSTATE\tDETAIL\n")
	for _, s := range st {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Index, s.Peer, s.State, s.Err)
	}
	tw.Flush()
	fmt.Printf("%d of %d slivers valid; %d needed to read\n", valid, com.N(), com.K())
	if valid < com.K() {
		return errors.New("blob stat: blob is not readable: fewer than k valid slivers")
	}
	return nil
}

// walrusStat reports whether the Walrus aggregator serves the blob: Walrus
// shows no per-node sliver states over HTTP, so reading it is the test.
func walrusStat(ctx context.Context, ws *walrus.Store, id blob.ID, asJSON bool) error {
	data, err := ws.Get(ctx, id)
	if asJSON {
		v := map[string]any{"id": id.String(), "store": "walrus", "aggregator": ws.Aggregator(), "readable": err == nil}
		if err == nil {
			v["bytes"] = len(data)
		} else {
			v["error"] = err.Error()
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(v); jerr != nil {
			return jerr
		}
	} else if err == nil {
		fmt.Printf("readable from %s: %d bytes\n", ws.Aggregator(), len(data))
	}
	if err != nil {
		return fmt.Errorf("blob stat: blob is not readable from %s: %w", ws.Aggregator(), err)
	}
	return nil
}

// reportAcks says on w how many of the n nodes acknowledged a put, and which
// failed with what, when fewer than all did: a put that succeeded with n - f
// acknowledgements is readable but has less redundancy than asked for.
func reportAcks(w io.Writer, n int, results []p2p.NodeError) {
	var failed []p2p.NodeError
	for _, r := range results {
		if r.Err != nil {
			failed = append(failed, r)
		}
	}
	acked := len(results) - len(failed)
	if acked >= n {
		return
	}
	sort.Slice(failed, func(i, j int) bool { return failed[i].Index < failed[j].Index })
	fmt.Fprintf(w, "blob put: %d of %d nodes acknowledged\n", acked, n)
	for _, f := range failed {
		fmt.Fprintf(w, "  %s\n", f.Error())
	}
	if missing := n - len(results); missing > 0 {
		fmt.Fprintf(w, "  %d nodes did not answer in time\n", missing)
	}
}

// oneID parses the single blob ID argument of get and stat.
func oneID(pos []string) (blob.ID, error) {
	if len(pos) != 1 {
		return blob.ID{}, usagef("want exactly one blob ID, got %d arguments", len(pos))
	}
	id, err := blob.ParseID(pos[0])
	if err != nil {
		return blob.ID{}, usagef("%v", err)
	}
	return id, nil
}
