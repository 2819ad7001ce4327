package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/floe-fl/floe/blob"

	"github.com/floe-fl/floe/codec"
)

// RepairReport says what one Repair did.
type RepairReport struct {
	Certified int       // certified, unexpired blobs found on the committee
	Held      int       // of those, blobs whose sliver this node already held
	Repaired  []blob.ID // blobs whose sliver this node rebuilt, in ID order
	Failed    []error
}

// Repair refills this node's missing slivers of certified blobs. It lists
// the certificates every other member holds, keeps those that verify against
// com, and for each blob whose sliver (at this node's index in com) it
// lacks, reads the blob from the others into a temporary file (k valid
// slivers, re-encoded and checked against the root), rebuilds its own sliver
// and proof from it stripe by stripe, and stores them durably with the
// certificate: memory O(n x stripe) whatever the blob's size, and the
// blob's size in temporary disk space. It returns an error naming the blobs it
// could not repair.
func (n *Node) Repair(ctx context.Context, com blob.Committee) error {
	rep, err := n.RepairWithReport(ctx, com)
	if err != nil {
		return err
	}
	if len(rep.Failed) > 0 {
		msgs := make([]string, len(rep.Failed))
		for i, e := range rep.Failed {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("blob: repair failed for %d of %d blobs: %s", len(rep.Failed), rep.Certified, strings.Join(msgs, "; "))
	}
	return nil
}

// RepairWithReport is Repair returning what it found and did; per-blob
// failures are in the report, not the error.
func (n *Node) RepairWithReport(ctx context.Context, com blob.Committee) (RepairReport, error) {
	var rep RepairReport
	self := com.Index(n.h.ID())
	if self < 0 {
		return rep, fmt.Errorf("blob: repair: node %s is not in the committee", n.h.ID())
	}
	c, err := NewClient(n.h, com)
	if err != nil {
		return rep, err
	}
	defer c.Close()
	certs := map[blob.ID]listEntry{}
	var listErrs []string
	for j := range com.N() {
		if j == self {
			continue
		}
		if err := c.listCerts(ctx, j, func(e listEntry) {
			if _, ok := certs[e.Cert.ID]; ok {
				return
			}
			if e.Cert.Verify(com) == nil {
				certs[e.Cert.ID] = e
			}
		}); err != nil {
			listErrs = append(listErrs, NodeError{Index: j, Peer: com.Members[j].ID, Err: err}.Error())
		}
	}
	if len(listErrs) == com.N()-1 && com.N() > 1 {
		return rep, fmt.Errorf("blob: repair: no member answered: %s", strings.Join(listErrs, "; "))
	}
	ids := make([]blob.ID, 0, len(certs))
	for id := range certs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return string(ids[a][:]) < string(ids[b][:]) })
	now := n.nowMs()
	for _, id := range ids {
		e := certs[id]
		if expired(e.ExpiresAtMs, now) {
			continue
		}
		rep.Certified++
		if n.Has(id, self) {
			rep.Held++
			if _, err := n.readCert(id); err != nil {
				if err := n.storeCert(&e.Cert, e.ExpiresAtMs); err != nil {
					rep.Failed = append(rep.Failed, fmt.Errorf("%s: %w", id, err))
				}
			}
			continue
		}
		if err := n.repairOne(ctx, c, e, self); err != nil {
			rep.Failed = append(rep.Failed, fmt.Errorf("%s: %w", id, err))
			continue
		}
		rep.Repaired = append(rep.Repaired, id)
		n.cfg.metrics.sliverRepaired()
	}
	return rep, ctx.Err()
}

// repairOne rebuilds this node's sliver (index self) of one certified blob
// in memory O(n * blob.StreamStripe), whatever the blob's size: the blob is
// read from the others into a temporary file (GetTo's path: verified as it
// streams, checked against the root), and the sliver is encoded from that
// file stripe by stripe into the node's sliver store with its proof.
func (n *Node) repairOne(ctx context.Context, c *Client, e listEntry, self int) error {
	f, err := os.CreateTemp(n.tmpDir(), "repair-*")
	if err != nil {
		return fmt.Errorf("blob: repair: temp file: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	se, leaves, err := c.getToRepair(ctx, e.Cert.ID, f, self)
	if err != nil {
		return err
	}
	root, proofs := blob.MerkleProofs(leaves)
	if blob.IDFor(se.Encoding, se.Length, root) != e.Cert.ID {
		return errors.New("blob: repair: rebuilt blob has another ID")
	}
	meta := sliverMeta{ID: e.Cert.ID, Index: uint32(self), Enc: se.Encoding, Length: se.Length, Root: root, Proof: proofs[self], ExpiresAtMs: e.ExpiresAtMs}
	pr, pw := io.Pipe()
	encoded := make(chan struct{})
	go func() {
		defer close(encoded)
		pw.CloseWithError(writeSliverFrom(pw, se, self, 0))
	}()
	err = n.writeSliver(meta, uint64(se.SliverSize), pr)
	pr.CloseWithError(errRepairDone) // ends the encoder if writeSliver stopped early
	<-encoded
	if err != nil {
		return err
	}
	return n.storeCert(&e.Cert, e.ExpiresAtMs)
}

var errRepairDone = errors.New("blob: repair: sliver written")

// listCerts pages through member j's certificates.
func (c *Client) listCerts(ctx context.Context, j int, fn func(listEntry)) error {
	var after blob.ID
	has := false
	for page := 0; ; page++ {
		if page > 1<<20 {
			return errors.New("blob: list: too many pages")
		}
		rep, err := c.listPage(ctx, j, after, has)
		if err != nil {
			return err
		}
		for _, e := range rep.Entries {
			if has && string(e.Cert.ID[:]) <= string(after[:]) {
				return errors.New("blob: list: entries out of order")
			}
			fn(e)
			after, has = e.Cert.ID, true
		}
		if !rep.More || len(rep.Entries) == 0 {
			return nil
		}
	}
}

func (c *Client) listPage(ctx context.Context, j int, after blob.ID, has bool) (listReply, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.baseTimeout)
	defer cancel()
	s, stop, err := c.openStream(ctx, j)
	if err != nil {
		return listReply{}, err
	}
	defer stop()
	var rep listReply
	if err := writeMsg(s, request{Op: opList, ID: after, HasAfter: has}); err == nil {
		_ = s.CloseWrite()
		err = codec.ReadMsg(s, listLimit, &rep)
	}
	if err != nil {
		_ = s.Reset()
		return listReply{}, err
	}
	_ = s.Close()
	if len(rep.Entries) > listPage {
		return listReply{}, fmt.Errorf("blob: list: page of %d entries", len(rep.Entries))
	}
	return rep, nil
}
