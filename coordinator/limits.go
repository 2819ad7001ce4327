package coordinator

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Request rates of the round protocol, on top of its stream limits (see
// MaxStreamsPerParticipant): each registered peer may send
// ParticipantRate requests a second (bursts of ParticipantBurst), and all
// peers that are not registered together OutsiderRate (bursts of
// OutsiderBurst). A request past its rate is answered with an error
// ("rate limited") and neither journaled nor applied. With registrations
// capped by the job, this bounds how fast anyone can grow the journal:
// registered peers' rejections are journaled at most at ParticipantRate
// each, and outsiders' never.
const (
	ParticipantRate  = 50
	ParticipantBurst = 100
	OutsiderRate     = 500
	OutsiderBurst    = 1000
)

// limiter holds the request rate limiters. Rates are wall-clock rates: they
// decide when a peer must slow down, never an outcome the chain records.
type limiter struct {
	mu        sync.Mutex               // guards the following
	peers     map[string]*rate.Limiter // registered peers (bounded by the job's registration cap)
	outsiders *rate.Limiter
}

// allow reports whether a request from peer may be served now.
func (l *limiter) allow(peer string, registered bool, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !registered {
		if l.outsiders == nil {
			l.outsiders = rate.NewLimiter(OutsiderRate, OutsiderBurst)
		}
		return l.outsiders.AllowN(now, 1)
	}
	if l.peers == nil {
		l.peers = map[string]*rate.Limiter{}
	}
	lim, ok := l.peers[peer]
	if !ok {
		lim = rate.NewLimiter(ParticipantRate, ParticipantBurst)
		l.peers[peer] = lim
	}
	return lim.AllowN(now, 1)
}
