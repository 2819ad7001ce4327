package blob

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/floe-fl/floe/atomicfile"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Committee is an ordered list of storage nodes: sliver i lives on Members[i].
type Committee struct {
	Members []peer.AddrInfo
}

// N returns the committee size.
func (c Committee) N() int { return len(c.Members) }

// F returns the number of faulty members tolerated: floor((n-1)/3).
func (c Committee) F() int {
	if len(c.Members) == 0 {
		return 0
	}
	return (len(c.Members) - 1) / 3
}

// K returns the number of slivers that recover a blob: n - 2f.
func (c Committee) K() int { return c.N() - 2*c.F() }

// Index returns the position of p in the committee, or -1.
func (c Committee) Index(p peer.ID) int {
	for i, m := range c.Members {
		if m.ID == p {
			return i
		}
	}
	return -1
}

// Validate reports whether c is usable: 1..MaxCommittee members, distinct
// peer IDs, each with an inline (Ed25519) public key so acks verify offline.
func (c Committee) Validate() error {
	if c.N() < 1 || c.N() > MaxCommittee {
		return fmt.Errorf("blob: committee has %d members, want 1..%d", c.N(), MaxCommittee)
	}
	seen := make(map[peer.ID]int, c.N())
	for i, m := range c.Members {
		if j, ok := seen[m.ID]; ok {
			return fmt.Errorf("blob: committee members %d and %d are the same peer %s", j, i, m.ID)
		}
		seen[m.ID] = i
		if _, err := m.ID.ExtractPublicKey(); err != nil {
			return fmt.Errorf("blob: committee member %d (%s) has no inline public key: %v", i, m.ID, err)
		}
	}
	return nil
}

// ParseCommittee parses a committee file: one multiaddr ending in /p2p/<peer
// ID> per line, in sliver order; blank lines and text after '#' are ignored.
// Several lines with the same peer ID are one error, not several addresses.
func ParseCommittee(text []byte) (Committee, error) {
	var c Committee
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		s := sc.Text()
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return Committee{}, fmt.Errorf("blob: committee line %d: bad multiaddr %q: %v", line, s, err)
		}
		ai, err := peer.AddrInfoFromP2pAddr(a)
		if err != nil {
			return Committee{}, fmt.Errorf("blob: committee line %d: %q needs a /p2p/<peer ID> suffix: %v", line, s, err)
		}
		c.Members = append(c.Members, *ai)
	}
	if err := sc.Err(); err != nil {
		return Committee{}, fmt.Errorf("blob: committee line %d: %v", line+1, err)
	}
	if err := c.Validate(); err != nil {
		return Committee{}, err
	}
	return c, nil
}

// Format returns the committee file text of c: one line per member (its
// first address, or a bare /p2p/ID when it has none).
func (c Committee) Format() []byte {
	var b bytes.Buffer
	b.WriteString("# floe committee: one storage node per line, in sliver order\n")
	for _, m := range c.Members {
		if len(m.Addrs) == 0 {
			fmt.Fprintf(&b, "/p2p/%s\n", m.ID)
			continue
		}
		fmt.Fprintf(&b, "%s/p2p/%s\n", m.Addrs[0], m.ID)
	}
	return b.Bytes()
}

// Addrs returns each member's first address with its /p2p/ID (a bare
// /p2p/ID when it has none), in sliver order: a job's committee list.
func (c Committee) Addrs() []string {
	out := make([]string, 0, len(c.Members))
	for _, m := range c.Members {
		if len(m.Addrs) == 0 {
			out = append(out, "/p2p/"+m.ID.String())
			continue
		}
		out = append(out, m.Addrs[0].String()+"/p2p/"+m.ID.String())
	}
	return out
}

// ReadCommitteeFile reads and parses a committee file.
func ReadCommitteeFile(path string) (Committee, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Committee{}, fmt.Errorf("blob: read committee: %w", err)
	}
	c, err := ParseCommittee(b)
	if err != nil {
		return Committee{}, fmt.Errorf("%w (in %s)", err, path)
	}
	return c, nil
}

// WriteCommitteeFile writes c to path durably (temp file, fsync, rename).
func WriteCommitteeFile(path string, c Committee) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return writeFileAtomic(path, c.Format(), 0o644)
}

// writeFileAtomic writes b to path with atomicfile.WriteFile (temp file,
// fsync, rename, directory fsync; devices and FIFOs in place).
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	if err := atomicfile.WriteFile(path, b, mode); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}
