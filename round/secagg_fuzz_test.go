package round_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/round"
)

// FuzzSecAggEvent feeds arbitrary events (journal records, or what a
// member sends once decoded) to a secagg round in each of its steps,
// through Step and Apply: whatever decodes is taken or refused, never a
// panic, and the round's view and fold task stay buildable.
func FuzzSecAggEvent(f *testing.F) {
	s := newSecAggSim(f, 4, 3)
	names := []string{"m0", "m1", "m2", "m3"}
	s.Tick(0)
	var journals [][][]byte // the journal at the start of each step
	for step := round.SAKeys; step <= round.SAReveal; step++ {
		journals = append(journals, s.Journal())
		mustStep(f, s, step, names...)
	}
	full := s.Journal()
	for _, b := range full[len(journals[0]):] {
		for i := range journals {
			f.Add(uint8(i), b)
		}
	}
	if dir := os.Getenv("FLOE_WRITE_CORPUS"); dir != "" {
		for i, b := range full[len(journals[0]):] {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("event-%02d", i)), []byte(fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", byte(i%len(journals)), b)), 0o644)
		}
	}
	job := &s.Job().Job
	f.Fuzz(func(t *testing.T, step uint8, b []byte) {
		var ev round.Event
		if err := codec.Unmarshal(b, &ev); err != nil {
			return
		}
		j := journals[int(step)%len(journals)]
		for _, apply := range []bool{false, true} {
			m := round.New(job, s.JobBlob(), nil)
			for _, rec := range j {
				var e round.Event
				if err := codec.Unmarshal(rec, &e); err != nil {
					t.Fatal(err)
				}
				if _, err := m.Apply(e); err != nil {
					t.Fatal(err)
				}
			}
			if apply {
				m.Apply(ev)
			} else {
				m.Step(ev)
			}
			m.Tick(1 << 40)
			rd := m.Ready()
			m.Advance(rd)
			for _, p := range names {
				m.SecAggView(s.ID(p))
			}
		}
	})
}
