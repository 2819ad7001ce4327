// Package atomicfile writes whole files so that a reader (or a restart after
// a crash) sees either the old contents or the new, never a mix, and
// fsyncs directories so that creations and renames are durable.
//
// # Caller's contract
//
// WriteFile(path, data, perm) picks the way to write from what path is now:
//
//  1. A path that does not exist, or a regular file, is replaced
//     atomically: data goes to a temporary file in the same directory
//     (".NAME.tmp-RANDOM", created with perm before the umask, as
//     os.WriteFile does), the file is fsynced, renamed over path, and the
//     directory is fsynced. A replaced file gets perm, not its old mode.
//     On failure the temporary file is removed and path is unchanged.
//  2. A device (such as /dev/null) or a FIFO is written in place: opened
//     O_WRONLY without O_CREATE or O_TRUNC, so it stays what it is. Nothing
//     is fsynced and nothing is atomic: these are streams, not files.
//  3. A symbolic link is followed (through every hop) and the rule applied
//     to its target, so the link survives and the file it names gets the
//     bytes, as with os.WriteFile. A dangling link is an error rather than
//     a reason to create a file somewhere the caller may not expect.
//  4. A directory, a socket or another kind of file is an error.
//  5. The directory must exist; WriteFile creates no directories.
//
// The path "-" is not special here: a command that prints to standard
// output when given "-" checks for it before calling WriteFile.
//
// WriteFile decides from a stat taken just before writing; it does not
// guard against another process replacing path at the same moment.
//
// SyncDir(dir) fsyncs a directory, making creations, renames and removals
// in it durable. Call it after creating or renaming a file by other means.
//
// Errors start with "atomicfile: " and wrap the underlying *fs.PathError or
// errno, so errors.Is(err, fs.ErrNotExist) works.
//
// WarnIfShared is the one check of a secret file's mode (identity keys,
// HPKE keys): a warning, once per path, when others can read it.
package atomicfile
