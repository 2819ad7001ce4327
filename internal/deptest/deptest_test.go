package deptest

import "testing"

func TestUnder(t *testing.T) {
	for _, tc := range []struct {
		path, prefix string
		want         bool
	}{
		{"github.com/libp2p/go-libp2p/core/peer", "github.com/libp2p/", true},
		{"github.com/libp2p/go-libp2p", "github.com/libp2p", true},
		{"github.com/libp2pfake/x", "github.com/libp2p/", false},
		{"github.com/floe-fl/floe/transport", "github.com/floe-fl/floe/transport", true},
		{"github.com/floe-fl/floe/transportx", "github.com/floe-fl/floe/transport", false},
		{"github.com/floe-fl/floe/transport/mem", "github.com/floe-fl/floe/transport", true},
	} {
		if got := under(tc.path, tc.prefix); got != tc.want {
			t.Errorf("under(%q, %q) = %v, want %v", tc.path, tc.prefix, got, tc.want)
		}
	}
}

// TestCheckSelf runs Check on this package, whose only dependencies are in
// the standard library and itself.
func TestCheckSelf(t *testing.T) {
	Check(t, "github.com/floe-fl/floe/internal/deptest", []string{"github.com/libp2p/", "github.com/fxamacker/", "golang.org/x/"})
}
