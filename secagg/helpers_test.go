package secagg

import (
	"math/rand/v2"
)

// seeded returns a deterministic byte source for tests.
func seeded(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

var testDomain = Domain{Job: []byte("job-1"), Round: 7}
