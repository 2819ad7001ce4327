package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// umask reports the process umask (briefly setting it to read it; the tests
// of this package do not run in parallel).
func umask() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestWriteFileRegular(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.bin")
	if err := WriteFile(p, []byte("first"), 0o640); err != nil {
		t.Fatal(err)
	}
	st1, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := 0o640 &^ umask(); st1.Mode() != want {
		t.Fatalf("new file mode %v, want %v", st1.Mode(), want)
	}
	// A reader holding the old file keeps the old bytes: the new ones went
	// to another inode, renamed over the name.
	old, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := WriteFile(p, []byte("second, longer"), 0o600); err != nil {
		t.Fatal(err)
	}
	st2, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(st1, st2) {
		t.Fatal("regular file was rewritten in place, not replaced")
	}
	if want := 0o600 &^ umask(); st2.Mode() != want {
		t.Fatalf("replaced file mode %v, want %v", st2.Mode(), want)
	}
	if b, _ := io.ReadAll(old); string(b) != "first" {
		t.Fatalf("old file now reads %q", b)
	}
	if b, _ := os.ReadFile(p); string(b) != "second, longer" {
		t.Fatalf("file reads %q", b)
	}
	if names := entries(t, dir); len(names) != 1 || names[0] != "out.bin" {
		t.Fatalf("directory holds %q, want only out.bin", names)
	}
}

func TestWriteFileRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := WriteFile("rel.txt", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile("rel.txt"); string(b) != "x" {
		t.Fatalf("rel.txt reads %q", b)
	}
}

func TestWriteFileDevNull(t *testing.T) {
	st, err := os.Lstat(os.DevNull)
	if err != nil || st.Mode().Type()&fs.ModeCharDevice == 0 {
		t.Skipf("%s is not a character device here (%v, %v)", os.DevNull, st, err)
	}
	if err := WriteFile(os.DevNull, []byte("discarded"), 0o644); err != nil {
		t.Fatal(err)
	}
	after, err := os.Lstat(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	if after.Mode() != st.Mode() || !os.SameFile(st, after) {
		t.Fatalf("%s was %v, is now %v", os.DevNull, st.Mode(), after.Mode())
	}
}

func TestWriteFileFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	data := bytes.Repeat([]byte("fifo bytes "), 10000) // more than a pipe buffer
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := os.Open(p)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		done <- result{b, err}
	}()
	werr := WriteFile(p, data, 0o644)
	if werr != nil {
		// Unblock the reader so that it can be joined.
		if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
			f.Close()
		}
	}
	r := <-done
	if werr != nil {
		t.Fatal(werr)
	}
	if r.err != nil || !bytes.Equal(r.b, data) {
		t.Fatalf("reader got %d bytes (want %d), err %v", len(r.b), len(data), r.err)
	}
	if st, err := os.Lstat(p); err != nil || st.Mode().Type() != fs.ModeNamedPipe {
		t.Fatalf("fifo is now %v (%v)", st.Mode(), err)
	}
}

// TestWriteFileSymlink: a link to a regular file is followed, the target
// replaced atomically beside itself and the link kept; a dangling link is an
// error.
func TestWriteFileSymlink(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "real"), 0o755)
	os.Mkdir(filepath.Join(dir, "links"), 0o755)
	target := filepath.Join(dir, "real", "model.bin")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "links", "model.bin")
	if err := os.Symlink("../real/model.bin", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode().Type() != fs.ModeSymlink {
		t.Fatalf("link is now %v (%v)", st.Mode(), err)
	}
	if b, _ := os.ReadFile(target); string(b) != "new" {
		t.Fatalf("target reads %q", b)
	}
	if names := entries(t, filepath.Join(dir, "links")); len(names) != 1 {
		t.Fatalf("links directory holds %q", names)
	}
	if names := entries(t, filepath.Join(dir, "real")); len(names) != 1 {
		t.Fatalf("target directory holds %q", names)
	}

	dangling := filepath.Join(dir, "links", "dangling")
	os.Symlink("../real/missing", dangling)
	if err := WriteFile(dangling, []byte("x"), 0o644); err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "dangling") {
		t.Fatalf("dangling link: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "real", "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("dangling link target was created: %v", err)
	}
}

func TestWriteFileErrors(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "no", "such", "dir", "f"), []byte("x"), 0o644); !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "atomicfile: ") {
		t.Fatalf("missing directory: %v", err)
	}
	if err := WriteFile(dir, []byte("x"), 0o644); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("directory: %v", err)
	}
	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("unix socket: %v", err)
	}
	defer l.Close()
	if err := WriteFile(sock, []byte("x"), 0o644); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("socket: %v", err)
	}
	if st, err := os.Lstat(sock); err != nil || st.Mode().Type() != fs.ModeSocket {
		t.Fatalf("socket is now %v (%v)", st.Mode(), err)
	}
}

// TestWriteFileFullFilesystem writes to a 64 KiB tmpfs: a write that does
// not fit fails with ENOSPC, leaves the old file and no temporary file.
// Mounting needs root.
func TestWriteFileFullFilesystem(t *testing.T) {
	dir := smallTmpfs(t)
	p := filepath.Join(dir, "f")
	if err := WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(p, make([]byte, 1<<20), 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write of 1 MiB to a 64 KiB filesystem: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("after the failed write the file reads %d bytes", len(b))
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Fatalf("directory holds %q after the failed write", names)
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
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// TestPackageDoc: doc.go alone carries the package comment, with numbered
// rules.
func TestPackageDoc(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			t.Fatal(err)
		}
		if (af.Doc != nil) != (f == "doc.go") {
			t.Errorf("%s: package comment present = %v; only doc.go has one", f, af.Doc != nil)
		}
	}
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(regexp.MustCompile(`(?m)^//\s+\d+\. `).FindAllString(string(b), -1)); n < 5 {
		t.Errorf("doc.go has %d numbered steps", n)
	}
}

func ExampleWriteFile() {
	dir, err := os.MkdirTemp("", "atomicfile-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "committee.txt")
	if err := WriteFile(p, []byte("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...\n"), 0o644); err != nil {
		panic(err)
	}
	// /dev/null is written in place, never renamed over.
	if err := WriteFile(os.DevNull, []byte("dropped"), 0o644); err != nil {
		panic(err)
	}
	b, _ := os.ReadFile(p)
	fmt.Print(string(b))
	// Output: /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...
}
