package coordinator

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// Journal is the coordinator's append-only log of opaque records (the
// server's are CBOR-encoded round events). Every record is durable (written
// and fsynced) before Append returns, and a record is either wholly in the
// journal or not at all.
//
// On-disk format: a sequence of records, each uvarint(len) || record ||
// CRC-32C(record) big-endian. A torn final record (a crash mid-append) is
// cut off on open; a bad record followed by more data is corruption.
//
// A failed append (a short write, ENOSPC, EIO, an fsync error) is cut back
// off the file and makes the journal refuse every later append with
// ErrJournalFailed: the caller stops, and a restart reads back exactly the
// records whose Append returned nil.
//
// A Journal is not safe for concurrent use; the server calls it under its
// lock.
type Journal struct {
	f    appendFile
	size int64 // bytes of good records: the file's length when err is nil
	err  error // the failure that stopped the journal, or nil
}

// appendFile is the part of *os.File the journal uses. Tests wrap it to
// inject faults.
type appendFile interface {
	io.Reader
	io.Writer
	io.Seeker
	Sync() error
	Truncate(size int64) error
	Close() error
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// maxJournalRecord bounds one journal record.
const maxJournalRecord = 8 << 20

// ErrJournalCorrupt reports a journal damaged other than at its tail.
var ErrJournalCorrupt = errors.New("coordinator: journal corrupt")

// ErrJournalFailed reports a journal that refuses appends because an
// earlier append failed. Only a restart, which reads the file back from
// disk, clears it.
var ErrJournalFailed = errors.New("coordinator: journal failed")

// OpenJournal opens (creating if needed) the journal at path and returns the
// records it holds, after cutting off a torn final record.
func OpenJournal(path string) (*Journal, [][]byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("coordinator: open journal: %w", err)
	}
	j, recs, err := openJournalFile(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return j, recs, nil
}

// openJournalFile reads the journal in f from its start, cuts off a torn
// tail (durably) and positions f for appending. It does not close f.
func openJournalFile(f appendFile) (*Journal, [][]byte, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, fmt.Errorf("coordinator: open journal: %w", err)
	}
	recs, good, err := ReadJournal(f)
	if err != nil {
		return nil, nil, err
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, nil, fmt.Errorf("coordinator: open journal: %w", err)
	}
	if end > good {
		if err := f.Truncate(good); err != nil {
			return nil, nil, fmt.Errorf("coordinator: truncate torn journal tail at offset %d: %w", good, err)
		}
		if err := f.Sync(); err != nil {
			return nil, nil, fmt.Errorf("coordinator: sync journal after cutting its torn tail: %w", err)
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		return nil, nil, fmt.Errorf("coordinator: open journal: %w", err)
	}
	return &Journal{f: f, size: good}, recs, nil
}

// ReadJournal decodes journal records from r. It returns the records and the
// byte length of the valid prefix; a torn last record is not an error. A
// read error of r is returned as is (wrapped), never taken for a torn tail.
func ReadJournal(r io.Reader) ([][]byte, int64, error) {
	er := &readErrs{r: r}
	br := bufio.NewReader(er)
	var (
		recs [][]byte
		good int64
	)
	for {
		lr := &byteCount{r: br}
		n, err := binary.ReadUvarint(lr)
		if er.err != nil {
			return nil, 0, fmt.Errorf("coordinator: read journal at offset %d: %w", good, er.err)
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return recs, good, nil
			}
			return nil, 0, fmt.Errorf("%w: record length at offset %d", ErrJournalCorrupt, good)
		}
		if n > maxJournalRecord {
			return nil, 0, fmt.Errorf("%w: record of %d bytes at offset %d", ErrJournalCorrupt, n, good)
		}
		if lr.n != uvarintLen(n) {
			// Append writes the shortest form; another would put good
			// (and the cut on open) at the wrong offset.
			return nil, 0, fmt.Errorf("%w: non-canonical record length at offset %d", ErrJournalCorrupt, good)
		}
		body := make([]byte, n+4)
		_, err = io.ReadFull(br, body)
		if er.err != nil {
			return nil, 0, fmt.Errorf("coordinator: read journal at offset %d: %w", good, er.err)
		}
		if err != nil {
			return recs, good, nil // torn tail
		}
		if crc32.Checksum(body[:n], crcTable) != binary.BigEndian.Uint32(body[n:]) {
			_, err := br.Peek(1)
			if er.err != nil {
				return nil, 0, fmt.Errorf("coordinator: read journal at offset %d: %w", good, er.err)
			}
			if err == nil {
				return nil, 0, fmt.Errorf("%w: checksum mismatch at offset %d", ErrJournalCorrupt, good)
			}
			return recs, good, nil // torn tail
		}
		recs = append(recs, body[:n:n])
		good += int64(lr.n) + int64(n) + 4
	}
}

// byteCount counts the bytes read through it.
type byteCount struct {
	r *bufio.Reader
	n int
}

func (c *byteCount) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// readErrs remembers the last error of r other than io.EOF, so that
// ReadJournal can tell a failing disk from the end of the file.
type readErrs struct {
	r   io.Reader
	err error
}

func (e *readErrs) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// Append writes the record b and fsyncs. When it returns nil, b is durable;
// when it returns an error, b is not in the journal (or, if cutting it back
// off failed too, the error says so) and the journal is failed: this and
// every later Append return an error wrapping ErrJournalFailed.
//
// A record longer than the journal's limit (8 MiB) is refused without
// failing the journal.
func (j *Journal) Append(b []byte) error {
	if j.err != nil {
		return fmt.Errorf("coordinator: journal refuses appends after an earlier failure: %w", j.err)
	}
	if len(b) > maxJournalRecord {
		return fmt.Errorf("coordinator: journal record of %d bytes exceeds the limit of %d", len(b), maxJournalRecord)
	}
	rec := appendRecord(nil, b)
	if _, err := j.f.Write(rec); err != nil {
		return j.fail("write", err)
	}
	if err := j.f.Sync(); err != nil {
		return j.fail("sync", err)
	}
	j.size += int64(len(rec))
	return nil
}

// fail cuts the file back to the last good record, fsyncs, and marks the
// journal failed for good.
//
// The failure is sticky, whatever cutting back achieved, because after a
// failed fsync nobody knows what is on disk. PostgreSQL learned this in 2018
// ("fsyncgate"): Linux may report a writeback error once, then mark the
// dirty pages clean (or drop them), so a retried fsync succeeds although
// the data never reached the disk, and what a later read returns comes from
// a page cache that no longer matches the disk. PostgreSQL now panics on an
// fsync failure and recovers from its log on restart. The journal does the
// same: it stops, and the next OpenJournal rereads the file.
func (j *Journal) fail(op string, cause error) error {
	err := fmt.Errorf("%w: %s at offset %d: %w", ErrJournalFailed, op, j.size, cause)
	if terr := j.f.Truncate(j.size); terr != nil {
		err = fmt.Errorf("%w; cutting the journal back to offset %d also failed, so it may end in a partial record (cut off as a torn tail on the next open): %w", err, j.size, terr)
	} else if serr := j.f.Sync(); serr != nil {
		err = fmt.Errorf("%w; syncing the journal after cutting it back to offset %d also failed: %w", err, j.size, serr)
	} else if _, perr := j.f.Seek(j.size, io.SeekStart); perr != nil {
		err = fmt.Errorf("%w; seeking back to offset %d also failed: %w", err, j.size, perr)
	}
	j.err = err
	return err
}

// Len returns the size in bytes of the journal's good records: the length
// of the file as a restart will read it, unless the journal has failed.
func (j *Journal) Len() int64 { return j.size }

// Empty reports whether the journal holds no records.
func (j *Journal) Empty() bool { return j.size == 0 }

// Close closes the journal file.
func (j *Journal) Close() error { return j.f.Close() }

// appendRecord appends the journal framing of one record to dst.
func appendRecord(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	dst = append(dst, b...)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(b, crcTable))
}

// uvarintLen returns the length of the uvarint encoding of n.
func uvarintLen(n uint64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], n)
}
