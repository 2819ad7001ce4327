package secagg_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/floe-fl/floe/secagg"
)

// Example masks three participants' updates and unmasks their weighted
// mean after participant 2 dropped.
func Example() {
	rng := rand.NewChaCha8([32]byte{42})
	d := secagg.Domain{Job: []byte("job"), Round: 1}
	enc, _ := secagg.NewEncoding(3, 10, 1, 16)
	g, _ := secagg.NewGraph(d, [32]byte{7}, 3, secagg.Degree(3, secagg.DegreeFactor))
	const t = 0 // one share recovers: a toy threshold for three parties
	keys := make([]secagg.KeyPair, 3)
	selfs := make([]secagg.Secret, 3)
	pubs := make([]secagg.PublicKey, 3)
	for i := range keys {
		keys[i], _ = secagg.NewKeyPair(rng)
		selfs[i], _ = secagg.NewSecret(rng)
		pubs[i] = keys[i].Public
	}
	updates := [][]float32{{0.5, -0.25}, {0.25, 0.75}, {1, 1}}
	var survivors []secagg.MaskedInput
	for i, u := range updates[:2] { // participant 2 never sends
		v := make([]uint64, len(u)+1)
		_ = enc.Encode(v, u, uint64(i+1), [32]byte{byte(i)})
		var peers []secagg.Peer
		for _, j := range g.Neighbours(i) {
			peers = append(peers, secagg.Peer{Index: j, Public: pubs[j]})
		}
		_ = d.Mask(v, enc.Bits, g, i, &keys[i], selfs[i], peers)
		survivors = append(survivors, secagg.MaskedInput{Index: i, Vector: v})
	}
	// In the protocol these Secrets come from Recover over revealed shares.
	sh, _ := secagg.Split(keys[2].Secret, t, []int{0, 1}, rng)
	k2, _ := secagg.Recover(t, sh[:1])
	sum := make([]uint64, 3)
	n, err := d.Unmask(sum, enc.Bits, g, survivors,
		[]secagg.Revealed{{Index: 0, Secret: selfs[0]}, {Index: 1, Secret: selfs[1]}},
		[]secagg.Revealed{{Index: 2, Secret: k2}}, pubs)
	if err != nil {
		panic(err)
	}
	mean := make([]float64, 2)
	w, _ := enc.DecodeMean(mean, sum, len(survivors))
	fmt.Printf("expanded %d masks; weight %d; mean %.4f %.4f\n", n, w, mean[0], mean[1])
	// Output: expanded 4 masks; weight 3; mean 0.3333 0.4167
}
