package aggregate

import (
	"testing"
)

// FuzzSetState: arbitrary bytes never panic SetState; accepted bytes
// re-encode to themselves (the encoding is canonical), and rejected bytes
// leave the state unchanged.
func FuzzSetState(f *testing.F) {
	a := mustNew(f, Spec{Rule: "fedadam"}, 3)
	f.Add(a.State())
	f.Add([]byte("floeagg\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range []Spec{{Rule: "fedadam"}, {Rule: "fedavgm"}, {Rule: "median"}} {
			a := mustNew(t, s, 3)
			before := a.State()
			if err := a.SetState(b); err != nil {
				if string(a.State()) != string(before) {
					t.Fatal("rejected state changed the aggregator")
				}
				continue
			}
			if string(a.State()) != string(b) {
				t.Fatalf("accepted state re-encodes differently")
			}
		}
		ParseState(b)
	})
}

// FuzzParseCanonical: rule descriptions from commitments parse to specs
// whose canonical form is the input, or fail cleanly.
func FuzzParseCanonical(f *testing.F) {
	f.Add("fedavg(dp_clip=0,dp_noise_multiplier=0)")
	f.Add("multikrum(f=1,m=3)")
	f.Fuzz(func(t *testing.T, c string) {
		s, err := ParseCanonical(c)
		if err != nil {
			return
		}
		if s.Canonical() != c {
			t.Fatalf("ParseCanonical(%q) re-encodes as %q", c, s.Canonical())
		}
		if _, err := New(s, 2); err != nil {
			t.Fatalf("parsed spec %q does not build: %v", c, err)
		}
	})
}
