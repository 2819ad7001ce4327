// Package model holds floe's parameter tensors and their safetensors files,
// the built-in models (multinomial logistic regression and a ReLU MLP), the
// datasets (MNIST, Synthetic(alpha, beta), CSV), the client partitions (IID,
// FedAvg shards, Dirichlet) and the trainers a participant calls: the local
// one on gonum, and one that runs an external program.
//
// # Caller's contract
//
//  1. Pick an architecture with ParseArch ("mlp:784-200-200-10" is the FedAvg
//     paper's 2NN, 199,210 parameters; "logreg" takes its sizes from the data
//     through Arch.ForData or Arch.WithDims).
//  2. Make the initial global model with Arch.Init(seed), and store it with
//     MarshalSafetensors(p, arch.Meta()), or bring a safetensors file of any
//     tensors and check it with InitialArch, which also reports the
//     architecture the job records (ArchFile unless the file is a built-in
//     one). The same params and metadata always give the same bytes, so a
//     model's hash names it.
//  3. Load data (LoadMNIST, Synthetic, LoadCSV) and split it among clients
//     with PartitionIID, PartitionShards or PartitionDirichlet (or Partition
//     for a scheme given as text), then Dataset.Subset each client's indices.
//  4. Each round, a participant decodes the global model with
//     UnmarshalSafetensors (strict: malformed files are errors wrapping
//     ErrMalformed) and calls Trainer.Train(ctx, global, data, cfg). The
//     Result holds the new local weights, the example count (its FedAvg
//     weight) and metrics; Result.Delta gives the update. Train never changes
//     global or data.
//  5. Aggregators work on Params.Flatten (the float tensors only) and
//     write back with Params.SetFlat, which rounds to each tensor's dtype;
//     updates are checked against the global model with Params.SameSchema.
//     Evaluate reports loss and accuracy of a built-in architecture
//     (IsBuiltin) on held-out data.
//
// Numbers: the built-in models' parameters and features are float32, labels
// are ints (see "Dtypes and aggregation" for other files). Training is
// mini-batch SGD: each epoch shuffles the examples with a generator seeded by
// TrainConfig.Seed, and each step computes the whole mini-batch's forward and
// backward pass with gonum matrix products (float32 GEMM), then applies
//
//	w -= lr * (grad + weight_decay*w + mu*(w - w_global))
//
// to every weight and bias. The same seed, inputs and machine give the same
// bits (gonum's GEMM splits work by output blocks, so goroutine scheduling
// does not change the order of any sum).
//
// # Model layout
//
// An architecture with sizes [n0, n1, ..., nL] has tensors fc1.weight
// [n1, n0], fc1.bias [n1], ..., fcL.weight [nL, n(L-1)], fcL.bias [nL], in
// that order: the layout of PyTorch nn.Linear layers, so a model file loads
// into torch.nn.Sequential-like modules by name. Hidden layers use ReLU; the
// last layer's outputs are logits for a softmax cross-entropy loss. Init
// draws every parameter of a layer with fan-in n from U(-1/sqrt(n), 1/sqrt(n)).
//
// # Safetensors format
//
// A model file is a safetensors file (https://github.com/huggingface/safetensors):
//
//	8 bytes   N, the header length, unsigned little-endian
//	N bytes   JSON object: {"__metadata__": {"k": "v", ...},
//	          "NAME": {"dtype": "F32", "shape": [d0, d1], "data_offsets": [BEGIN, END]}, ...}
//	rest      the data buffer; each tensor's little-endian row-major bytes
//	          lie at [BEGIN, END) relative to the buffer's start
//
// MarshalSafetensors writes each tensor in its own dtype, compact JSON with
// sorted keys, pads the header with spaces to a multiple of 8 bytes, and
// packs the tensors in Params order with no gaps: decoding and re-encoding
// a file it wrote gives the same bytes. The metadata key "floe.arch"
// records the architecture. Readers accept F32, F64, F16, BF16, I64, I32,
// I16, I8, U64, U32, U16, U8 and BOOL, and reject a file shorter than its
// header or data, a header over 100 MB, invalid UTF-8 or JSON, duplicate
// keys, unknown fields, unknown dtypes and the ones floe does not hold
// (F8_E5M2, F8_E4M3, F8_E8M0, C64), shapes whose size disagrees with their
// offsets, overlapping offsets, holes or trailing bytes in the data buffer,
// BOOL bytes other than 0 and 1, and non-string metadata values.
//
// # Dtypes and aggregation
//
// A model is a file: any tensor names, shapes and dtypes. Tensors keep the
// order of their data in the file (UnmarshalSafetensors sorts by data
// offset), and every later model version keeps the initial file's order, so
// a file whose tensors are aligned to their element size (as safetensors'
// own writers lay them out, largest element first) stays aligned.
//
//   - Float tensors (F32, F64, F16, BF16) are aggregated. The aggregation
//     vector (Params.Flatten) is their values as float32, tensor after
//     tensor: F16 and BF16 widen exactly; F64 values are rounded to the
//     nearest float32 (ties to even), so an F64 tensor carries float32
//     precision from the first aggregated round on. Package aggregate
//     accumulates sums in float64 in a fixed order and returns float32.
//     Params.SetFlat and MarshalSafetensors write each value back in its
//     tensor's dtype: F32 unchanged, F64 exactly (every float32 is a
//     float64), F16 and BF16 rounded to nearest with ties to even; a value
//     beyond the dtype's range becomes an infinity, as IEEE 754 rounding
//     says. These conversions are integer bit operations (F16 by
//     x448/float16, checked on all 2^32 float32 inputs by its author), so
//     they give the same bits on every machine and build.
//   - Integer and BOOL tensors (num_batches_tracked, say) are not
//     aggregated: the new global model keeps the global model's bytes,
//     whatever an update holds there, and an update's values for them never
//     reject it. Only their names, shapes and dtypes are checked.
//   - An update is a file of deltas (local minus global) with the global
//     model's names, order, shapes and dtypes (Params.SameSchema); norms,
//     clipping and the robust rules see its whole flattened delta (an F64
//     delta beyond float32's range flattens to an infinity and is
//     rejected as non-finite).
//
// # Datasets
//
// LoadMNIST reads the four idx files (train-images-idx3-ubyte,
// train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte),
// each gzipped (".gz") or not. The idx format is a big-endian uint32 magic
// (0x00000803 for images, 0x00000801 for labels), the big-endian uint32
// counts (n, then rows and cols for images), then unsigned bytes. Pixels are
// scaled to [0, 1]. When a SHA256SUMS file (lines "HEX  NAME") lies beside
// them, every file must be listed, under its decompressed name with the
// digest of its decompressed bytes or under its own name with the digest of
// its bytes, and must match.
//
// LoadCSV reads a header row, then one example per row: every column but the
// named label column is a float feature; labels are integers 0..K-1.
//
// Synthetic follows the FedProx paper's generator; see its doc.
//
// # External trainers
//
// NewExternalTrainer runs any program as a trainer, so that PyTorch (or any
// other) code can take part. For each Train call floe:
//
//  1. creates a fresh working directory and writes there model_in.safetensors
//     (the global model in its own dtypes, F32 for the built-in models,
//     with the caller's metadata), config.json
//     ({"epochs":E,"batch_size":B,"lr":LR,"mu":MU,"weight_decay":WD,"seed":S})
//     and, when the dataset has examples, data.safetensors holding "x" (F32,
//     [N, D]) and "y" (I64, [N]) with metadata {"classes": "K"};
//  2. runs the command with these environment variables added:
//     FLOE_MODEL_IN, FLOE_MODEL_OUT, FLOE_RESULT_OUT, FLOE_CONFIG, FLOE_DATA
//     (only when data.safetensors was written), FLOE_WORKDIR, and the
//     configuration as FLOE_EPOCHS, FLOE_BATCH_SIZE, FLOE_LR, FLOE_MU,
//     FLOE_WEIGHT_DECAY, FLOE_SEED. In the command's arguments the
//     placeholders {model_in}, {model_out}, {result_out}, {config}, {data}
//     and {workdir} are replaced by the same paths;
//  3. expects exit status 0, then reads FLOE_MODEL_OUT, a safetensors file
//     with exactly the input's tensor names and shapes (in any order; F32,
//     F64, F16 or BF16; all values finite), and FLOE_RESULT_OUT, a JSON
//     object {"num_examples": N, "metrics": {"name": number, ...}} of at most
//     1 MiB (N a non-negative integer, metrics optional and finite);
//  4. removes the working directory. A non-zero exit or a missing or
//     malformed output is an error that quotes the end of the program's
//     stderr; cancelling the context kills the program, and Train returns an
//     error wrapping the context's.
//
// examples/trainer holds a standard-library Python trainer that follows this
// contract. config.json also holds "steps" (TrainConfig.Steps), and
// FLOE_STEPS the same.
//
// # Resident trainers
//
// NewResidentTrainer keeps one trainer program running for the whole job
// and talks to it over the resident-trainer protocol, version 1:
//
//  1. Framing. Each message is a frame on the program's stdin (floe to
//     trainer) or stdout (trainer to floe): a 4-byte big-endian length N,
//     1 <= N <= FrameSizeMax (1 MiB), then N bytes of one JSON object with a
//     "type". The program's stdout carries frames only (a trainer that
//     prints there breaks the protocol); stderr is free for logs. floe sets
//     FLOE_TRAINER_PROTOCOL=floe-trainer/1 and FLOE_WORKDIR in its
//     environment.
//  2. Hello. floe sends {"type":"hello","protocol":"floe-trainer","versions":[1]};
//     the trainer answers {"type":"hello","protocol":"floe-trainer","version":1},
//     a version from the list, within StartTimeout (default 2 min).
//  3. Calls. floe sends one request at a time and waits for its answer:
//     {"type":"train","id":ID,"model_in":PATH,"model_out":PATH,"data":PATH,
//     "data_id":HEX,"config":{"epochs":E,"steps":S,"batch_size":B,"lr":LR,
//     "mu":MU,"weight_decay":WD,"seed":SEED}} asks the trainer to train
//     from model_in and write model_out (as in step 3 of the external
//     contract); {"type":"evaluate","id":ID,"model_in":PATH,"data":PATH,
//     "data_id":HEX} asks for metrics. The trainer answers
//     {"type":"result","id":ID,"num_examples":N,"metrics":{"name":number}}
//     or {"type":"error","id":ID,"message":TEXT}. IDs count up from 1.
//  4. Data. The data file (the format of the external contract) is written
//     once per job into the working directory and named by "data_id", the
//     hex SHA-256 of its bytes, so a trainer may keep it loaded across
//     calls; a new file (a new data_id) comes only with another Dataset.
//     "data" and "data_id" are absent when the participant holds no data.
//     The model files are rewritten for every call.
//  5. Shutdown. Close sends {"type":"shutdown"} and closes stdin; the
//     trainer exits (status ignored) within KillDelay (default 5 s) or is
//     killed.
//
// Replies are decoded strictly (unknown fields are errors), as is the output
// model. An error reply fails the call and keeps the program. Any other
// failure kills the program and fails the call, and the next call starts it
// again: the program exiting, a frame above the limit, a malformed message,
// an answer to another call, a missing or bad output model, and the call's
// context ending (ResidentTrainer.CallTimeout adds a bound per call). A
// program that exited and left its stdout open in a child stops blocking
// reads KillDelay later. Calls run one at a time.
//
// python/floe_trainer.py implements the trainer side in standard-library
// Python, with a PyTorch adapter (serve_torch) so that a user writes only
// the model, train and evaluate; examples/pytorch uses it.
package model
