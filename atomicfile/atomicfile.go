package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// tempAttempts bounds the search for an unused temporary name.
const tempAttempts = 100

// baseInTempMax bounds how much of the file name goes into the temporary
// name, keeping it under NAME_MAX (255) with the prefix and random suffix.
const baseInTempMax = 200

// WriteFile writes data to path: atomically for regular files and new
// paths, in place for devices and FIFOs. The package comment gives the
// rules.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	target, fi, err := resolve(path)
	if err != nil {
		return err
	}
	if fi == nil || fi.Mode().IsRegular() {
		return replace(target, data, perm)
	}
	switch t := fi.Mode().Type(); {
	case t&(fs.ModeDevice|fs.ModeNamedPipe) != 0:
		return writeInPlace(target, data)
	case t&fs.ModeDir != 0:
		return fmt.Errorf("atomicfile: write %s: is a directory", path)
	default:
		return fmt.Errorf("atomicfile: write %s: not a regular file, device or FIFO (mode %v)", path, fi.Mode())
	}
}

// resolve follows symbolic links at path. It returns the path to write and
// what is there now (nil if nothing is). A link to a regular file resolves
// to the file's real path, so that the rename lands beside it and the link
// survives; any other link is returned as is, since opening it follows it
// (and /dev/stdout's /proc/self/fd/1 names no path that EvalSymlinks could
// walk).
func resolve(path string) (string, fs.FileInfo, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return path, nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("atomicfile: write: %w", err)
	}
	if fi.Mode().Type()&fs.ModeSymlink == 0 {
		return path, fi, nil
	}
	fi, err = os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, fmt.Errorf("atomicfile: write %s: dangling symbolic link: %w", path, err)
	}
	if err != nil {
		return "", nil, fmt.Errorf("atomicfile: write: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return path, fi, nil
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", nil, fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	return target, fi, nil
}

// replace writes data to a temporary file beside path, fsyncs it, renames
// it over path and fsyncs the directory.
func replace(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if len(base) > baseInTempMax {
		base = base[:baseInTempMax]
	}
	f, err := createTemp(dir, base, perm)
	if err != nil {
		return fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	return SyncDir(dir)
}

// createTemp creates a new file ".base.tmp-RANDOM" in dir with perm (before
// the umask). os.CreateTemp would fix the mode at 0600.
func createTemp(dir, base string, perm os.FileMode) (*os.File, error) {
	var rnd [8]byte
	for range tempAttempts {
		rand.Read(rnd[:])
		name := filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(rnd[:]))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, fmt.Errorf("no unused temporary name after %d attempts", tempAttempts)
}

// writeInPlace writes data to an existing device or FIFO.
func writeInPlace(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	return nil
}

// SyncDir fsyncs the directory dir so that creations, renames and removals
// in it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("atomicfile: sync dir: %w", err)
	}
	return nil
}
