package participant

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/round"
	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// fakeCoordinator serves the round protocol on a real libp2p host on
// loopback, answering each request with answer(op, n), n counting the
// requests of that op so far.
func fakeCoordinator(t *testing.T, answer func(op string, n int) round.Response) host.Host {
	t.Helper()
	k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	h, err := transport.NewHost(transport.HostConfig{Key: k, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	var mu sync.Mutex
	count := map[string]int{}
	h.SetStreamHandler(transport.ProtoRound, func(s network.Stream) {
		defer s.Close()
		var req round.Request
		if err := codec.ReadMsg(s, round.MaxRequestSize, &req); err != nil {
			s.Reset()
			return
		}
		mu.Lock()
		n := count[req.Op]
		count[req.Op]++
		mu.Unlock()
		codec.WriteMsg(s, answer(req.Op, n))
	})
	return h
}

func runAgainst(t *testing.T, coord host.Host) (err error, doneRound uint64, called bool) {
	t.Helper()
	k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	h, herr := transport.NewHost(transport.HostConfig{Key: k, DialOnly: true})
	if herr != nil {
		t.Fatal(herr)
	}
	defer h.Close()
	p, perr := New(Config{Host: h, Key: k, Coordinator: peer.AddrInfo{ID: coord.ID(), Addrs: coord.Addrs()},
		Data:   &model.Dataset{N: 1, D: 1, Classes: 2, X: []float32{1}, Y: []int{0}},
		OnDone: func(r uint64, _ ledger.BlobID) { doneRound, called = r, true }})
	if perr != nil {
		t.Fatal(perr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = p.Run(ctx)
	return err, doneRound, called
}

// TestRunStopsWhenRegistrationSaysDone: a participant that joins after the
// job finished stops at once with a nil error.
func TestRunStopsWhenRegistrationSaysDone(t *testing.T) {
	coord := fakeCoordinator(t, func(op string, n int) round.Response {
		return round.Response{Status: round.RespDone, Round: 5}
	})
	start := time.Now()
	err, r, called := runAgainst(t, coord)
	if err != nil || !called || r != 5 {
		t.Fatalf("Run = %v, OnDone called %v with round %d; want nil, true, 5", err, called, r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Run took %v to see the job is done", d)
	}
}

// TestRunStopsWhenDoneAfterBackoff: a participant in backoff (the
// coordinator failed its requests) stops when a later answer says done.
func TestRunStopsWhenDoneAfterBackoff(t *testing.T) {
	coord := fakeCoordinator(t, func(op string, n int) round.Response {
		if n < 3 {
			return round.Response{Status: round.RespError, Reason: "coordinator shutting down"}
		}
		return round.Response{Status: round.RespDone, Round: 7}
	})
	err, r, called := runAgainst(t, coord)
	if err != nil || !called || r != 7 {
		t.Fatalf("Run = %v, OnDone called %v with round %d; want nil, true, 7", err, called, r)
	}
}
