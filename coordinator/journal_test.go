package coordinator

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// rec returns the i-th test record: distinct, of varying length.
func rec(i int) []byte {
	return []byte(fmt.Sprintf("record %d %s", i, strings.Repeat("x", i*37%200)))
}

// appendN appends records from..to-1 and fails the test on an error.
func appendN(t *testing.T, j *Journal, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := j.Append(rec(i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

// wantRecs checks that recs are rec(0) .. rec(n-1).
func wantRecs(t *testing.T, what string, recs [][]byte, n int) {
	t.Helper()
	if len(recs) != n {
		t.Fatalf("%s: %d records, want %d", what, len(recs), n)
	}
	for i, r := range recs {
		if !bytes.Equal(r, rec(i)) {
			t.Fatalf("%s: record %d is %q, want %q", what, i, r, rec(i))
		}
	}
}

// readBack opens the journal at p, closes it and returns its records.
func readBack(t *testing.T, p string) [][]byte {
	t.Helper()
	j, recs, err := OpenJournal(p)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	return recs
}

func TestJournalTornTailAndCorruption(t *testing.T) {
	p := filepath.Join(t.TempDir(), "journal")
	j, recs, err := OpenJournal(p)
	if err != nil || len(recs) != 0 || !j.Empty() {
		t.Fatal(err, len(recs))
	}
	appendN(t, j, 0, 3)
	if j.Empty() {
		t.Fatal("journal with three records reports Empty")
	}
	j.Close()
	full, _ := os.ReadFile(p)
	if int64(len(full)) != j.Len() {
		t.Fatalf("file holds %d bytes, Len says %d", len(full), j.Len())
	}
	last := len(full) - len(appendRecord(nil, rec(2)))
	// Every torn tail (a crash mid-append) loses at most the last record.
	for cut := len(full) - 1; cut > 0; cut-- {
		os.WriteFile(p, full[:cut], 0o600)
		j, recs, err := OpenJournal(p)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if cut >= last && len(recs) != 2 {
			t.Fatalf("cut at %d lost more than the torn record: %d records", cut, len(recs))
		}
		if st, _ := os.Stat(p); st.Size() != j.Len() {
			t.Fatalf("cut at %d: torn tail left on disk (%d bytes, %d good)", cut, st.Size(), j.Len())
		}
		// Appending after recovery yields a clean journal.
		n := len(recs)
		if err := j.Append(rec(n)); err != nil {
			t.Fatal(err)
		}
		j.Close()
		wantRecs(t, fmt.Sprintf("cut at %d, after recovery", cut), readBack(t, p), n+1)
	}
	// A flipped byte in the middle is corruption, not silently dropped data.
	bad := bytes.Clone(full)
	bad[5] ^= 0x40
	os.WriteFile(p, bad, 0o600)
	if j, _, err := OpenJournal(p); !errors.Is(err, ErrJournalCorrupt) {
		if j != nil {
			j.Close()
		}
		t.Fatalf("mid-journal corruption: %v", err)
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, bad) {
		t.Fatal("opening a corrupt journal changed the file")
	}
	// A length in a longer form than Append writes would misplace the cut.
	nonCanonical := append([]byte{0x80 | 2, 0}, append(rec(0)[:2], 0, 0, 0, 0)...)
	if _, _, err := ReadJournal(bytes.NewReader(append(nonCanonical, full...))); !errors.Is(err, ErrJournalCorrupt) {
		t.Fatalf("non-canonical length: %v", err)
	}
}

// fileOp names an operation of the journal's file, for faultFile.
type fileOp string

const (
	opRead     fileOp = "read"
	opWrite    fileOp = "write"
	opSync     fileOp = "sync"
	opTruncate fileOp = "truncate"
)

// faultFile wraps the journal's file and fails the operations inject picks,
// as pebble's vfs/errorfs does. A failed Write first writes shortWrite bytes
// (a short write, as when the disk fills mid-record); a failed Sync does not
// sync; a failed Truncate does not truncate; a failed Read returns nothing.
type faultFile struct {
	appendFile
	inject     func(op fileOp) error // nil: no fault
	shortWrite int
}

func (f *faultFile) fault(op fileOp) error {
	if f.inject == nil {
		return nil
	}
	return f.inject(op)
}

func (f *faultFile) Read(p []byte) (int, error) {
	if err := f.fault(opRead); err != nil {
		return 0, err
	}
	return f.appendFile.Read(p)
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fault(opWrite); err != nil {
		n, _ := f.appendFile.Write(p[:min(f.shortWrite, len(p))])
		return n, err
	}
	return f.appendFile.Write(p)
}

func (f *faultFile) Sync() error {
	if err := f.fault(opSync); err != nil {
		return err
	}
	return f.appendFile.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if err := f.fault(opTruncate); err != nil {
		return err
	}
	return f.appendFile.Truncate(size)
}

// failOnce returns an injector that fails the next call of each op in errs
// with its error; with persist, every call.
func failOnce(errs map[fileOp]error, persist bool) func(fileOp) error {
	fired := map[fileOp]bool{}
	return func(op fileOp) error {
		if fired[op] && !persist {
			return nil
		}
		fired[op] = true
		return errs[op]
	}
}

// TestJournalAppendFailure: a failed append is cut back off, the journal
// refuses every later append, and reopening yields exactly the records
// appended successfully before; appending after the reopen works.
func TestJournalAppendFailure(t *testing.T) {
	for _, tc := range []struct {
		name       string
		faults     map[fileOp]error
		persist    bool // every call of a faulty op fails, not only the next
		shortWrite int
		cause      error
		// alsoFailed: cutting back (truncate or its fsync) failed too, and
		// the error says so; torn: the failed record's bytes stay in the
		// file; whole: all of them, so a reopen reads the record, never
		// acknowledged (the caller was told it may be there).
		alsoFailed, torn, whole bool
	}{
		{name: "short write ENOSPC", faults: map[fileOp]error{opWrite: syscall.ENOSPC}, shortWrite: 7, cause: syscall.ENOSPC},
		{name: "write nothing ENOSPC", faults: map[fileOp]error{opWrite: syscall.ENOSPC}, shortWrite: 0, cause: syscall.ENOSPC},
		{name: "write EIO", faults: map[fileOp]error{opWrite: syscall.EIO}, shortWrite: 3, cause: syscall.EIO},
		{name: "write ok, fsync EIO", faults: map[fileOp]error{opSync: syscall.EIO}, cause: syscall.EIO},
		{name: "write ok, every fsync EIO", faults: map[fileOp]error{opSync: syscall.EIO}, persist: true, cause: syscall.EIO, alsoFailed: true},
		{name: "short write, truncate fails", faults: map[fileOp]error{opWrite: syscall.ENOSPC, opTruncate: syscall.EROFS}, shortWrite: 7, cause: syscall.ENOSPC, alsoFailed: true, torn: true},
		{name: "fsync EIO, truncate fails", faults: map[fileOp]error{opSync: syscall.EIO, opTruncate: syscall.EIO}, cause: syscall.EIO, alsoFailed: true, torn: true, whole: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "journal")
			f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			ff := &faultFile{appendFile: f, shortWrite: tc.shortWrite}
			j, recs, err := openJournalFile(ff)
			if err != nil || len(recs) != 0 {
				t.Fatal(err, len(recs))
			}
			appendN(t, j, 0, 2)
			good := j.Len()

			ff.inject = failOnce(tc.faults, tc.persist)
			err = j.Append(rec(2))
			if !errors.Is(err, ErrJournalFailed) || !errors.Is(err, tc.cause) {
				t.Fatalf("failed append: %v, want ErrJournalFailed wrapping %v", err, tc.cause)
			}
			if tc.alsoFailed != strings.Contains(err.Error(), "also failed") {
				t.Fatalf("failed append's error %q does not tell whether cutting back failed", err)
			}
			if truncErr := tc.faults[opTruncate]; truncErr != nil && !errors.Is(err, truncErr) {
				t.Fatalf("error %v does not wrap the truncate error %v", err, truncErr)
			}
			ff.inject = nil // the disk recovers; the journal stays failed
			st, _ := os.Stat(p)
			for i := range 3 {
				if err := j.Append(rec(3 + i)); !errors.Is(err, ErrJournalFailed) || !errors.Is(err, tc.cause) {
					t.Fatalf("append after a failure: %v, want ErrJournalFailed", err)
				}
			}
			if st2, _ := os.Stat(p); st2.Size() != st.Size() {
				t.Fatalf("a failed journal wrote: %d bytes, then %d", st.Size(), st2.Size())
			}
			if !tc.torn && st.Size() != good {
				t.Fatalf("the failed record was not cut back off: file %d bytes, %d good", st.Size(), good)
			}
			if j.Len() != good {
				t.Fatalf("Len %d after the failure, want %d", j.Len(), good)
			}
			j.Close()

			j, recs, err = OpenJournal(p)
			if err != nil {
				t.Fatal(err)
			}
			n := 2
			if tc.whole {
				n = 3 // never acknowledged, but wholly there: the caller was told
			}
			wantRecs(t, "reopened", recs, n)
			appendN(t, j, n, n+2)
			j.Close()
			wantRecs(t, "appended after reopening", readBack(t, p), n+2)
		})
	}
}

// TestJournalReadError: a read error while opening is reported, not taken
// for a torn tail, and the file is left as it was.
func TestJournalReadError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "journal")
	j, _, err := OpenJournal(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 { // more than one bufio buffer
		if err := j.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	before, _ := os.ReadFile(p)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reads := 0
	ff := &faultFile{appendFile: f, inject: func(op fileOp) error {
		if op == opRead {
			if reads++; reads > 1 {
				return syscall.EIO
			}
		}
		return nil
	}}
	if _, _, err := openJournalFile(ff); !errors.Is(err, syscall.EIO) || errors.Is(err, ErrJournalCorrupt) {
		t.Fatalf("open with a read error: %v, want EIO", err)
	}
	if after, _ := os.ReadFile(p); !bytes.Equal(after, before) {
		t.Fatalf("open with a read error changed the file: %d bytes, then %d", len(before), len(after))
	}
}

// TestJournalOversizedRecord: a record over the limit is refused before
// anything is written, and the journal goes on.
func TestJournalOversizedRecord(t *testing.T) {
	j, _, err := OpenJournal(filepath.Join(t.TempDir(), "journal"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Append(make([]byte, maxJournalRecord+1)); err == nil || errors.Is(err, ErrJournalFailed) {
		t.Fatalf("oversized record: %v", err)
	}
	if !j.Empty() {
		t.Fatal("oversized record was written")
	}
	appendN(t, j, 0, 1)
}

// TestJournalFullFilesystem fills a 64 KiB tmpfs (as the user with the data
// directory on a full tmpfs did): the append that does not fit fails with
// ENOSPC, later appends are refused, and after space is freed a reopen
// yields exactly the acknowledged records and takes new ones. Mounting needs
// root.
func TestJournalFullFilesystem(t *testing.T) {
	dir := smallTmpfs(t)
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 16<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "journal")
	j, _, err := OpenJournal(p)
	if err != nil {
		t.Fatal(err)
	}
	big := func(i int) []byte { return append(rec(i), make([]byte, 5000)...) }
	var acked [][]byte
	for i := 0; ; i++ {
		if i > 100 {
			t.Fatal("a 64 KiB filesystem took 500 KB of journal")
		}
		err := j.Append(big(i))
		if err == nil {
			acked = append(acked, big(i))
			continue
		}
		if !errors.Is(err, ErrJournalFailed) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("append %d: %v, want ErrJournalFailed wrapping ENOSPC", i, err)
		}
		break
	}
	if err := j.Append([]byte("x")); !errors.Is(err, ErrJournalFailed) {
		t.Fatalf("append after ENOSPC: %v", err)
	}
	j.Close()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	j, recs, err := OpenJournal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(recs, acked, bytes.Equal) {
		t.Fatalf("reopened: %d records, want the %d acknowledged", len(recs), len(acked))
	}
	if err := j.Append([]byte("after")); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if recs := readBack(t, p); len(recs) != len(acked)+1 {
		t.Fatalf("after reopening and appending: %d records, want %d", len(recs), len(acked)+1)
	}
}

// smallTmpfs mounts a 64 KiB tmpfs for the test, or skips.
func smallTmpfs(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root; skipping the full-filesystem test")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (%v: %s); skipping the full-filesystem test", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			// A file left open: detach the mount anyway, and say so.
			exec.Command("umount", "-l", dir).Run()
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func FuzzReadJournal(f *testing.F) {
	var buf bytes.Buffer
	for i := range 3 {
		buf.Write(appendRecord(nil, rec(i)))
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, good, err := ReadJournal(bytes.NewReader(b))
		if err != nil {
			return
		}
		if good > int64(len(b)) {
			t.Fatalf("valid prefix %d beyond input %d", good, len(b))
		}
		// The records re-frame to exactly the valid prefix.
		var again []byte
		for _, r := range recs {
			again = appendRecord(again, r)
		}
		if !bytes.Equal(again, b[:good]) {
			t.Fatalf("%d records re-frame to %d bytes, valid prefix is %d", len(recs), len(again), good)
		}
		// Re-reading the valid prefix gives the same records.
		recs2, good2, err := ReadJournal(bytes.NewReader(b[:good]))
		if err != nil || good2 != good || !slices.EqualFunc(recs, recs2, bytes.Equal) {
			t.Fatalf("prefix re-read: %d/%d records, err %v", len(recs2), len(recs), err)
		}
	})
}
