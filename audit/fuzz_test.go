package audit

import (
	"reflect"
	"testing"

	"github.com/floe-fl/floe/ledger"
)

// FuzzParseLoose checks that the lenient parse the walk uses to follow
// invalid records never panics, accepts only commitment records, and agrees
// with ledger.Decode on every record Decode accepts.
func FuzzParseLoose(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		sc := parseLoose(b)
		if sc != nil && b[0] != ledger.KindCommitment {
			t.Fatalf("parsed a record of kind 0x%02x as a commitment", b[0])
		}
		_, strict, err := ledger.Decode(b)
		if err != nil || strict == nil {
			return
		}
		if sc == nil {
			t.Fatal("ledger.Decode accepts a commitment the lenient parse rejects")
		}
		if !reflect.DeepEqual(sc, strict) {
			t.Fatalf("lenient and strict parses differ:\n%+v\n%+v", sc, strict)
		}
	})
}
