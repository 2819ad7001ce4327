// Package deptest checks from a test which packages another package
// depends on, so a layering rule ("ledger imports no networking package")
// is enforced by `go test` rather than by review.
//
// Callers:
//
//  1. In a package's deps_test.go, call Check with the package's import path
//     and the forbidden import-path prefixes.
//  2. Check runs `go list -deps` on the package for the host platform (test
//     files excluded, since tests may use anything) and fails the test for
//     each dependency under a forbidden prefix, naming it.
//  3. For rules a prefix cannot state (a module's root package but not its
//     subpackages), Deps returns the list to check by hand.
//
// The go command must be on PATH; Check skips the test in -short mode.
package deptest
