package aggregate

import (
	"testing"

	"github.com/goccy/go-yaml"
)

// TestSpecFromYAML: a job file's aggregation section decodes into a Spec,
// integers included.
func TestSpecFromYAML(t *testing.T) {
	var job struct {
		Aggregation Spec `yaml:"aggregation"`
	}
	src := "aggregation:\n  rule: multikrum\n  params:\n    f: 2\n    m: 7\n"
	if err := yaml.Unmarshal([]byte(src), &job); err != nil {
		t.Fatal(err)
	}
	if got := job.Aggregation.Canonical(); got != "multikrum(f=2,m=7)" {
		t.Fatalf("Canonical = %q", got)
	}
	src = "aggregation:\n  rule: fedadam\n  params: {eta: 0.01, beta1: 0.9, typo: 1}\n"
	if err := yaml.Unmarshal([]byte(src), &job); err != nil {
		t.Fatal(err)
	}
	if err := job.Aggregation.Validate(); err == nil {
		t.Fatal("unknown parameter accepted")
	}
}
