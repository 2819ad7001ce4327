package main

import (
	"flag"
	"os"
	"strings"

	"github.com/floe-fl/floe/blob"
)

// parseHead reads the --head of audit and models: a chain head ID given as
// text, or the name of a file holding one (a coordinator's --head-file, a
// sim's OUT/head). The all-zero ID is no blob's ID and is refused.
func parseHead(s string) (blob.ID, error) {
	id, err := blob.ParseID(strings.TrimSpace(s))
	if err != nil {
		b, ferr := os.ReadFile(s)
		if ferr != nil {
			return blob.ID{}, usagef("--head %q: not a blob ID (%v) nor a readable file", s, err)
		}
		if id, err = blob.ParseID(strings.TrimSpace(string(b))); err != nil {
			return blob.ID{}, usagef("--head file %s: %v", s, err)
		}
	}
	if id == (blob.ID{}) {
		return blob.ID{}, usagef("--head %q: the all-zero ID is not a chain head", s)
	}
	return id, nil
}

// parseInterspersed parses flags that may come before or after positional
// arguments (floe blob get ID -o FILE) and returns the positionals. An
// argument after "--" is positional, and so is one that starts with '-' but
// is a blob ID (one ID in 64 starts with '-') and is not a flag's value:
// floe blob get -o out -AbC... works as floe blob get -o out -- -AbC... does.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		// Parse up to "--" or the first dash-led blob ID that is not a
		// flag's value.
		cut := len(args)
		for i, a := range args {
			if (a == "--" || isDashID(a)) && (i == 0 || !wantsValue(fs, args[i-1])) {
				cut = i
				break
			}
		}
		if err := parseFlags(fs, args[:cut]); err != nil {
			return nil, err
		}
		rest := append(fs.Args(), args[cut:]...)
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return pos, nil
}

// isDashID reports whether a is a blob ID that starts with '-'.
func isDashID(a string) bool {
	if !strings.HasPrefix(a, "-") {
		return false
	}
	_, err := blob.ParseID(a)
	return err == nil
}

// wantsValue reports whether a is a flag of fs that takes the next argument
// as its value (a non-boolean flag without "=").
func wantsValue(fs *flag.FlagSet, a string) bool {
	if !strings.HasPrefix(a, "-") || a == "-" || a == "--" || strings.Contains(a, "=") {
		return false
	}
	f := fs.Lookup(strings.TrimLeft(a, "-"))
	if f == nil {
		return false
	}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return false
	}
	return true
}
