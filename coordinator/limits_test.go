package coordinator

import (
	"testing"
	"time"
)

// TestLimiter: a registered peer gets its burst, then its rate; peers are
// limited apart; outsiders share one budget.
func TestLimiter(t *testing.T) {
	var l limiter
	t0 := time.Unix(1000, 0)
	allowed := func(peer string, registered bool, n int, at time.Time) int {
		k := 0
		for i := 0; i < n; i++ {
			if l.allow(peer, registered, at) {
				k++
			}
		}
		return k
	}
	if got := allowed("a", true, 3*ParticipantBurst, t0); got != ParticipantBurst {
		t.Fatalf("a burst of %d requests: %d allowed, want %d", 3*ParticipantBurst, got, ParticipantBurst)
	}
	if got := allowed("b", true, ParticipantBurst, t0); got != ParticipantBurst {
		t.Fatalf("another peer's burst: %d allowed, want %d (peers are limited apart)", got, ParticipantBurst)
	}
	if got := allowed("a", true, 3*ParticipantRate, t0.Add(time.Second)); got != ParticipantRate {
		t.Fatalf("a second later: %d allowed, want %d", got, ParticipantRate)
	}
	x := allowed("x", false, OutsiderBurst, t0)
	y := allowed("y", false, OutsiderBurst, t0)
	if x+y != OutsiderBurst {
		t.Fatalf("two outsiders' bursts: %d + %d allowed, want %d together", x, y, OutsiderBurst)
	}
}
