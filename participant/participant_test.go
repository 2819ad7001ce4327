package participant

import (
	"bytes"
	"io"
	"testing"

	"github.com/floe-fl/floe/model"
	"github.com/libp2p/go-libp2p/core/crypto"
)

func TestNewNeedsData(t *testing.T) {
	k, _, _ := crypto.GenerateEd25519Key(bytes.NewReader(make([]byte, 64)))
	if _, err := New(Config{Key: k}); err == nil {
		t.Fatal("participant without data accepted")
	}
	if _, err := New(Config{Key: k, Data: &model.Dataset{N: 1, D: 1, Classes: 2, X: []float32{1}, Y: []int{0}}}); err != nil {
		t.Fatal(err)
	}
}

func TestSeedsAreDistinctAndStable(t *testing.T) {
	if TrainSeed(1, 2, "a") != TrainSeed(1, 2, "a") {
		t.Fatal("train seed not stable")
	}
	seen := map[uint64]bool{}
	for _, s := range []uint64{TrainSeed(1, 2, "a"), TrainSeed(1, 2, "b"), TrainSeed(1, 3, "a"), TrainSeed(2, 2, "a")} {
		if seen[s] {
			t.Fatal("train seeds collide across participants, rounds or jobs")
		}
		seen[s] = true
	}
	a, _ := io.ReadAll(io.LimitReader(SealRand(1, "p", 1), 64))
	b, _ := io.ReadAll(io.LimitReader(SealRand(1, "p", 1), 64))
	c, _ := io.ReadAll(io.LimitReader(SealRand(1, "p", 2), 64))
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Fatal("sealing randomness is not a function of (seed, participant, round)")
	}
}
