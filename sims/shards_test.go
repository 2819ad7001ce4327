package sims

import (
	"strings"
	"testing"
)

// TestShardsPerParticipant: the shards partition gives each participant
// o.Shards shards of equal size, sorted by label, so with one shard a
// participant sees at most two labels (a shard may straddle a boundary)
// and with more it sees more; too many shards for the data is an error,
// not a panic; and the setting survives a scenario round trip.
func TestShardsPerParticipant(t *testing.T) {
	labels := make([]int, 200)
	for i := range labels {
		labels[i] = i % 10
	}
	distinct := func(shards int) (int, int) {
		o := DefaultOptions()
		o.Participants, o.Partition, o.Shards = 10, "shards", shards
		parts, err := partition(labels, &o)
		if err != nil {
			t.Fatal(err)
		}
		most, size := 0, len(parts[0])
		for _, p := range parts {
			seen := map[int]bool{}
			for _, i := range p {
				seen[labels[i]] = true
			}
			most = max(most, len(seen))
			if len(p) != size {
				t.Fatalf("%d shards: parts of %d and %d examples", shards, size, len(p))
			}
		}
		return most, size
	}
	if most, size := distinct(1); most > 2 || size != 20 {
		t.Fatalf("1 shard: up to %d labels in %d examples", most, size)
	}
	if most, _ := distinct(5); most < 3 {
		t.Fatalf("5 shards: at most %d labels a participant", most)
	}
	o := DefaultOptions()
	o.Participants, o.Partition, o.Shards = 10, "shards", 21
	if _, err := partition(labels, &o); err == nil || !strings.Contains(err.Error(), "10 participants x 21 shards") {
		t.Fatalf("too many shards: %v", err)
	}
	o.Shards = 4
	back, err := ScenarioFrom(o).Options()
	if err != nil || back.Shards != 4 {
		t.Fatalf("shards after a scenario round trip: %d, %v", back.Shards, err)
	}
}
