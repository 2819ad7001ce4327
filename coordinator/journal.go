package coordinator

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/floe-fl/floe/codec"
)

// Journal is the coordinator's append-only event log. Every event is durable
// (written and fsynced) before it takes effect or is acknowledged.
//
// On-disk format: a sequence of records, each uvarint(len) || CBOR(Event) ||
// CRC-32C(CBOR) big-endian. A torn final record (a crash mid-append) is cut
// off on open; a bad record followed by more data is corruption.
type Journal struct {
	f *os.File
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// maxJournalRecord bounds one journal record.
const maxJournalRecord = 8 << 20

// ErrJournalCorrupt reports a journal damaged other than at its tail.
var ErrJournalCorrupt = errors.New("coordinator: journal corrupt")

// OpenJournal opens (creating if needed) the journal at path and returns the
// events it holds.
func OpenJournal(path string) (*Journal, []Event, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("coordinator: open journal: %w", err)
	}
	evs, good, err := ReadJournal(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("coordinator: truncate torn journal tail: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	return &Journal{f: f}, evs, nil
}

// ReadJournal decodes journal records from r. It returns the events and the
// byte length of the valid prefix; a torn last record is not an error.
func ReadJournal(r io.Reader) ([]Event, int64, error) {
	br := bufio.NewReader(r)
	var (
		evs  []Event
		good int64
	)
	for {
		n, err := binary.ReadUvarint(br)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return evs, good, nil
			}
			return nil, 0, fmt.Errorf("%w: record length at offset %d", ErrJournalCorrupt, good)
		}
		if n > maxJournalRecord {
			return nil, 0, fmt.Errorf("%w: record of %d bytes at offset %d", ErrJournalCorrupt, n, good)
		}
		body := make([]byte, n+4)
		if _, err := io.ReadFull(br, body); err != nil {
			return evs, good, nil // torn tail
		}
		if crc32.Checksum(body[:n], crcTable) != binary.BigEndian.Uint32(body[n:]) {
			if _, err := br.Peek(1); err == nil {
				return nil, 0, fmt.Errorf("%w: checksum mismatch at offset %d", ErrJournalCorrupt, good)
			}
			return evs, good, nil // torn tail
		}
		var ev Event
		if err := codec.Unmarshal(body[:n], &ev); err != nil {
			return nil, 0, fmt.Errorf("%w: record at offset %d: %v", ErrJournalCorrupt, good, err)
		}
		evs = append(evs, ev)
		good += int64(binary.PutUvarint(make([]byte, binary.MaxVarintLen64), n)) + int64(n) + 4
	}
}

// Append writes ev and fsyncs.
func (j *Journal) Append(ev Event) error {
	b, err := codec.Marshal(ev)
	if err != nil {
		return fmt.Errorf("coordinator: journal encode: %w", err)
	}
	if _, err := j.f.Write(appendRecord(nil, b)); err != nil {
		return fmt.Errorf("coordinator: journal write: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("coordinator: journal sync: %w", err)
	}
	return nil
}

// Close closes the journal file.
func (j *Journal) Close() error { return j.f.Close() }

// appendRecord appends the journal framing of one encoded event to dst.
func appendRecord(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	dst = append(dst, b...)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(b, crcTable))
}
