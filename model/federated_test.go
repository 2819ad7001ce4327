package model

import "testing"

func TestSyntheticFederated(t *testing.T) {
	train, test, err := SyntheticFederated(1, 1, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := Synthetic(1, 1, 5, 3)
	n := 0
	for i, d := range train {
		if want := all[i].N - (all[i].N - int(float64(all[i].N)*0.8+0.5)); d.N != want {
			t.Errorf("client %d keeps %d of %d, want %d", i, d.N, all[i].N, want)
		}
		n += all[i].N - d.N
	}
	if test.N != n || test.D != 60 || test.Classes != 10 || test.Validate() != nil {
		t.Fatalf("held-out set: %d examples (want %d), D=%d, classes=%d", test.N, n, test.D, test.Classes)
	}
}
