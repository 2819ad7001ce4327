package secagg

import (
	"testing"

	"github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/secretsharing"
)

func TestSplitVerifiable(t *testing.T) {
	rng := seeded(5)
	s, err := NewSecret(rng)
	if err != nil {
		t.Fatal(err)
	}
	holders := []int{0, 2, 3, 7, 9}
	shares, c, err := SplitVerifiable(s, 2, holders, seeded(6))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Split(s, 2, holders, seeded(6))
	if err != nil {
		t.Fatal(err)
	}
	for i := range shares {
		if shares[i] != plain[i] {
			t.Fatalf("share %d differs from Split's", i)
		}
		if !c.Verify(2, shares[i]) {
			t.Fatalf("share of holder %d does not verify", shares[i].Holder)
		}
	}
	if !c.Commits(2, s) {
		t.Fatal("commitment does not commit to the secret")
	}
	// A share for another holder, a changed value, the wrong threshold or
	// a malformed commitment fail.
	moved := shares[0]
	moved.Holder = 1
	bad := shares[1]
	bad.Value[0] ^= 1
	other, _ := NewSecret(rng)
	if c.Verify(2, moved) || c.Verify(2, bad) || c.Verify(3, shares[0]) || c.Commits(2, other) {
		t.Fatal("a bad share or secret verifies")
	}
	short := Commitment{c[0], c[1]}
	if short.Check(2) == nil || short.Verify(2, shares[0]) {
		t.Fatal("a commitment with too few points is accepted")
	}
	junk := Commitment{c[0], make([]byte, 32), c[2]}
	junk[1][0] = 0xff
	if junk.Check(2) == nil {
		t.Fatal("a commitment with a point that does not decode is accepted")
	}
}

// FuzzCommitment checks share commitments as they arrive from the
// network (points of a member's signed share header): whatever the bytes,
// Check and Verify answer without panicking, and a commitment that fails
// Check verifies no share.
func FuzzCommitment(f *testing.F) {
	s, _ := NewSecret(seeded(1))
	shares, c, err := SplitVerifiable(s, 2, []int{0, 1, 2, 3}, seeded(2))
	if err != nil {
		f.Fatal(err)
	}
	var all []byte
	for _, p := range c {
		all = append(all, p...)
	}
	f.Add(all, 2, shares[1].Value[:])
	f.Add(all[:64], 1, shares[0].Value[:])
	f.Fuzz(func(t *testing.T, b []byte, th int, value []byte) {
		if th < 0 || th > 64 {
			return
		}
		var cm Commitment
		for len(b) >= PointSize {
			cm, b = append(cm, b[:PointSize]), b[PointSize:]
		}
		if len(b) > 0 {
			cm = append(cm, b)
		}
		var sh ShareValue
		copy(sh.Value[:], value)
		ok := cm.Verify(th, sh)
		if cm.Check(th) != nil && ok {
			t.Fatal("a malformed commitment verified a share")
		}
		cm.Commits(th, sh.Value)
	})
}

// TestLagrangeMatchesCircl: Recover's batched interpolation gives what
// circl's secretsharing.Recover gives, for thresholds 0 to 20.
func TestLagrangeMatchesCircl(t *testing.T) {
	rng := seeded(9)
	for th := 0; th <= 20; th++ {
		s, _ := NewSecret(rng)
		holders := make([]int, th+1)
		for i := range holders {
			holders[i] = 3*i + th
		}
		shares, err := Split(s, th, holders, rng)
		if err != nil {
			t.Fatal(err)
		}
		ss := make([]secretsharing.Share, len(shares))
		for i, sh := range shares {
			v, _ := sh.Value.scalar()
			id := group.Ristretto255.NewScalar()
			id.SetUint64(uint64(sh.Holder) + 1)
			ss[i] = secretsharing.Share{ID: id, Value: v}
		}
		want, err := secretsharing.Recover(uint(th), ss)
		if err != nil {
			t.Fatal(err)
		}
		if got := lagrangeAtZero(ss); !got.IsEqual(want) || secretOf(got) != s {
			t.Fatalf("threshold %d: interpolation differs from circl's or the secret", th)
		}
	}
}
