package model

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDoc checks that doc.go states the contract: numbered steps, and every
// environment variable and placeholder of the external-trainer contract.
func TestDoc(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if !regexp.MustCompile(`(?m)^//  1\. `).MatchString(doc) || !strings.Contains(doc, "package model") {
		t.Fatal("doc.go lacks numbered caller's-contract steps")
	}
	for _, s := range []string{EnvModelIn, EnvModelOut, EnvResultOut, EnvConfig, EnvData, EnvWorkDir, EnvEpochs, EnvBatchSize,
		EnvLR, EnvMu, EnvWeightDecay, EnvSeed, "{model_in}", "{model_out}", "{result_out}", "{config}", "{data}", "{workdir}",
		"num_examples", MetaArch, "SHA256SUMS", "__metadata__"} {
		if !strings.Contains(doc, s) {
			t.Errorf("doc.go does not mention %s", s)
		}
	}
}

func ExampleParseArch() {
	a, _ := ParseArch("mlp:784-200-200-10")
	fmt.Println(a, a.NumParams())
	lr, _ := ParseArch("logreg")
	lr, _ = lr.WithDims(60, 10)
	fmt.Println(lr, lr.NumParams())
	// Output:
	// mlp:784-200-200-10 199210
	// logreg:60-10 610
}

func ExampleMarshalSafetensors() {
	p := &Params{Tensors: []Tensor{{Name: "w", Shape: []int{2}, Data: []float32{1, 2}}}}
	b, _ := MarshalSafetensors(p, map[string]string{"note": "hi"})
	fmt.Printf("%q\n", b[8:len(b)-8])
	q, meta, _ := UnmarshalSafetensors(b)
	fmt.Println(q.Tensors[0].Data, meta["note"])
	// Output:
	// "{\"__metadata__\":{\"note\":\"hi\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}     "
	// [1 2] hi
}

func ExampleNewLocalTrainer() {
	clients, _ := Synthetic(0.5, 0.5, 4, 1)
	arch, _ := ParseArch("logreg")
	arch, _ = arch.ForData(clients[0])
	global := arch.Init(1)
	res, _ := NewLocalTrainer(arch).Train(context.Background(), global, clients[0],
		TrainConfig{Epochs: 2, BatchSize: 10, LR: 0.05, Seed: 1})
	before, _, _ := Evaluate(arch, global, clients[0])
	after, _, _ := Evaluate(arch, res.Params, clients[0])
	fmt.Println(res.NumExamples == clients[0].N, after < before)
	// Output: true true
}

func ExamplePartitionShards() {
	labels := []int{0, 1, 2, 3, 0, 1, 2, 3}
	// Sorted by label, the 4 shards hold labels 0, 1, 2 and 3; each client
	// gets two of them.
	for c, part := range PartitionShards(labels, 2, 2, 1) {
		var ys []int
		for _, i := range part {
			ys = append(ys, labels[i])
		}
		fmt.Println("client", c, "indices", part, "labels", ys)
	}
	// Output:
	// client 0 indices [0 2 4 6] labels [0 2 0 2]
	// client 1 indices [1 3 5 7] labels [1 3 1 3]
}

// TestDeterministicLarge trains a model big enough for gonum's GEMM to split
// work across goroutines, twice, and expects the same bits.
func TestDeterministicLarge(t *testing.T) {
	a, _ := ParseArch("mlp:784-256-10")
	data := toyData(1200, 784, 10, 8)
	cfg := TrainConfig{Epochs: 1, BatchSize: 600, LR: 0.1, Seed: 2}
	r1 := trainOnce(t, a, data, cfg)
	r2 := trainOnce(t, a, data, cfg)
	assertParamsEqual(t, r1.Params, r2.Params)
}

func BenchmarkTrain2NN(b *testing.B) {
	a, _ := ParseArch("mlp:784-200-200-10")
	data := toyData(6000, 784, 10, 1)
	for _, bs := range []int{10, 50, 600} {
		b.Run(fmt.Sprintf("B=%d", bs), func(b *testing.B) {
			tr := NewLocalTrainer(a)
			global := a.Init(1)
			cfg := TrainConfig{Epochs: 1, BatchSize: bs, LR: 0.01, Seed: 1}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := tr.Train(context.Background(), global, data, cfg); err != nil {
					b.Fatal(err)
				}
			}
			s := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N*data.N)/s, "examples/s")
			b.ReportMetric(float64(b.N*data.N)*a.FLOPsPerExample()/s/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkMarshalSafetensors2NN(b *testing.B) {
	a, _ := ParseArch("mlp:784-200-200-10")
	p := a.Init(1)
	b.SetBytes(int64(4 * p.Len()))
	b.ReportAllocs()
	for range b.N {
		if _, err := MarshalSafetensors(p, a.Meta()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalSafetensors2NN(b *testing.B) {
	a, _ := ParseArch("mlp:784-200-200-10")
	buf, _ := MarshalSafetensors(a.Init(1), a.Meta())
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for range b.N {
		if _, _, err := UnmarshalSafetensors(buf); err != nil {
			b.Fatal(err)
		}
	}
}
