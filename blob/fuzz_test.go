package blob

import (
	"bytes"
	"testing"
)

func FuzzParseID(f *testing.F) {
	f.Add("4mpn5NH2_l-8daCqViQfT2Ly9VOcOTw99wrov_tSTrY")
	f.Add("")
	f.Add("4mpn5NH2_l-8daCqViQfT2Ly9VOcOTw99wrov_tSTrZ")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("ParseID(%q) round-trips to %q", s, id.String())
		}
	})
}

func FuzzParseCommittee(f *testing.F) {
	f.Add([]byte("# c\n/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWPWeh54RdUT92yFTG7FqtpPHeW8RthLRTNah8ByPj1RL6 # one\n\n/ip4/127.0.0.1/udp/4002/quic-v1/p2p/12D3KooWHNN3nnw3XGg5rHUuE2Sw4icX25C7gU6PGvYw1aDcZRPD\n"))
	f.Add([]byte("/ip4/1.2.3.4/tcp/1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommittee(b)
		if err != nil {
			return
		}
		back, err := ParseCommittee(c.Format())
		if err != nil {
			t.Fatalf("formatted committee does not parse: %v", err)
		}
		if back.N() != c.N() {
			t.Fatalf("round trip: %d members, want %d", back.N(), c.N())
		}
		for i := range c.Members {
			if back.Members[i].ID != c.Members[i].ID {
				t.Fatalf("member %d changed", i)
			}
		}
	})
}

func FuzzParseCertificate(f *testing.F) {
	c := Certificate{ID: ID{1, 2, 3}, LifetimeMs: 60000, Acks: []Ack{{Index: 0, Sig: bytes.Repeat([]byte{7}, 64)}, {Index: 2, Sig: []byte{1}}}}
	b, _ := c.Marshal()
	f.Add(b)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCertificate(b)
		if err != nil {
			return
		}
		m, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		c2, err := ParseCertificate(m)
		if err != nil {
			t.Fatalf("re-encoded certificate does not parse: %v", err)
		}
		m2, _ := c2.Marshal()
		if !bytes.Equal(m, m2) {
			t.Fatal("certificate encoding is not stable")
		}
	})
}
