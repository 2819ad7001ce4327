package ledger

import (
	"bytes"
	"strings"
	"testing"

	"github.com/floe-fl/floe/codec"
)

// TestJobStore checks JobSpec.Store: empty is floe's own committee and
// leaves the encoding (and so every existing job ID) as it was; "walrus"
// needs no committee and allows none; anything else is refused.
func TestJobStore(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(j *JobSpec)
		err    string
	}{
		{"own committee", func(j *JobSpec) {}, ""},
		{"walrus", func(j *JobSpec) { j.Store, j.Committee = StoreWalrus, nil }, ""},
		{"walrus with a committee", func(j *JobSpec) { j.Store = StoreWalrus }, "ledger: job: committee: 2 members in a job whose blobs are on Walrus, want none"},
		{"unknown store", func(j *JobSpec) { j.Store = "s3" }, "ledger: job: store: \"s3\", want empty (floe's own committee) or \"walrus\""},
		{"own committee, none named", func(j *JobSpec) { j.Committee = nil }, "ledger: job: committee: empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := validJob()
			tc.mutate(&j)
			err := j.Validate()
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && (err == nil || err.Error() != tc.err):
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}

	j := validJob()
	b, err := codec.Marshal(&j)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte{0x18, 26}) {
		t.Fatal("an empty Store is encoded")
	}
	j.Store, j.Committee = StoreWalrus, nil
	w, err := codec.Marshal(&j)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(w, append([]byte{0x18, 26, 0x66}, StoreWalrus...)) {
		t.Fatal("Store is not field 26")
	}
	if !strings.Contains(string(w), StoreWalrus) {
		t.Fatal("walrus not in the encoding")
	}
}
