#!/usr/bin/env python3
"""A floe external trainer in plain Python (standard library only).

It follows the contract in model/doc.go ("External trainers"): floe runs it
with FLOE_MODEL_IN, FLOE_MODEL_OUT, FLOE_RESULT_OUT, FLOE_DATA and the
hyperparameters in FLOE_EPOCHS, FLOE_BATCH_SIZE, FLOE_LR, FLOE_MU,
FLOE_WEIGHT_DECAY and FLOE_SEED. It reads the global model (tensors
fc1.weight [out, in], fc1.bias [out], ... as floe's built-in models write
them), trains a ReLU MLP (or logistic regression, with one layer) with
mini-batch SGD and softmax cross-entropy, exactly the update floe's local
trainer applies:

    w -= lr * (grad + weight_decay * w + mu * (w - w_global))

and writes the new model plus {"num_examples": N, "metrics": {...}}.

With full-batch training (FLOE_BATCH_SIZE=0) the result matches floe's
local trainer up to float32 rounding; with mini-batches the shuffling order
differs (Python's random module, seeded with FLOE_SEED).

A PyTorch trainer has the same shape: load FLOE_MODEL_IN with
safetensors.torch.load_file, copy into nn.Linear layers by name, train, and
save_file the state dict to FLOE_MODEL_OUT.

Usage (normally run by floe): python3 train.py
"""

import json
import math
import os
import random
import struct
import sys

DTYPES = {"F32": ("f", 4), "F64": ("d", 8), "I64": ("q", 8)}


def read_safetensors(path):
    """Return ({name: (shape, flat list)}, metadata) of a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack_from("<Q", blob, 0)
    if n > len(blob) - 8:
        raise ValueError(f"{path}: truncated header")
    header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = blob[8 + n :]
    tensors = {}
    for name, info in header.items():
        code, size = DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        count = (end - begin) // size
        tensors[name] = (info["shape"], list(struct.unpack_from(f"<{count}{code}", data, begin)))
    return tensors, meta


def write_safetensors(path, tensors):
    """Write [(name, shape, flat floats)] as F32, packed in order."""
    header, chunks, off = {}, [], 0
    for name, shape, values in tensors:
        raw = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def forward(layers, x):
    """Activations of every layer for one example (logits last)."""
    acts = [x]
    for i, (w, b, n_out, n_in) in enumerate(layers):
        a = acts[-1]
        z = [b[o] + sum(w[o * n_in + k] * a[k] for k in range(n_in)) for o in range(n_out)]
        if i < len(layers) - 1:
            z = [v if v > 0 else 0.0 for v in z]
        acts.append(z)
    return acts


def main():
    env = os.environ
    if "FLOE_DATA" not in env:
        sys.exit("train.py: FLOE_DATA is not set: this example trains on the data floe passes it")
    params, _ = read_safetensors(env["FLOE_MODEL_IN"])
    data, _ = read_safetensors(env["FLOE_DATA"])
    epochs = int(env["FLOE_EPOCHS"])
    batch = int(env["FLOE_BATCH_SIZE"])
    lr, mu, wd = float(env["FLOE_LR"]), float(env["FLOE_MU"]), float(env["FLOE_WEIGHT_DECAY"])
    rng = random.Random(int(env["FLOE_SEED"]))

    (n, d), xs = data["x"]
    ys = data["y"][1]
    X = [xs[i * d : (i + 1) * d] for i in range(n)]

    names = []
    while f"fc{len(names) + 1}.weight" in params:
        names.append(f"fc{len(names) + 1}")
    if not names or len(params) != 2 * len(names):
        sys.exit(f"train.py: expected tensors fc1.weight, fc1.bias, ...; got {sorted(params)}")
    layers = []  # (weights, bias, out, in) as float lists
    for name in names:
        shape, w = params[name + ".weight"]
        layers.append((list(w), list(params[name + ".bias"][1]), shape[0], shape[1]))
    start = [(list(w), list(b)) for w, b, _, _ in layers]

    if batch <= 0 or batch >= n:
        batch = n
    order = list(range(n))
    steps = 0
    for _ in range(epochs):
        if batch < n:
            rng.shuffle(order)
        loss_sum, correct = 0.0, 0
        for s in range(0, n, batch):
            idx = order[s : s + batch]
            grads = [([0.0] * len(w), [0.0] * len(b)) for w, b, _, _ in layers]
            for i in idx:
                acts = forward(layers, X[i])
                z = acts[-1]
                m = max(z)
                if z.index(m) == ys[i]:
                    correct += 1
                exps = [math.exp(v - m) for v in z]
                total = sum(exps)
                loss_sum += math.log(total) - (z[ys[i]] - m)
                delta = [e / total - (1.0 if j == ys[i] else 0.0) for j, e in enumerate(exps)]
                for li in range(len(layers) - 1, -1, -1):
                    w, b, n_out, n_in = layers[li]
                    a = acts[li]
                    gw, gb = grads[li]
                    for o in range(n_out):
                        do = delta[o] / len(idx)
                        if do == 0.0:
                            continue
                        gb[o] += do
                        row = o * n_in
                        for k in range(n_in):
                            gw[row + k] += do * a[k]
                    if li > 0:
                        delta = [
                            sum(delta[o] * w[o * n_in + k] for o in range(n_out)) if a[k] > 0 else 0.0
                            for k in range(n_in)
                        ]
            for li, (w, b, _, _) in enumerate(layers):
                for p, g, p0 in ((w, grads[li][0], start[li][0]), (b, grads[li][1], start[li][1])):
                    for k in range(len(p)):
                        p[k] -= lr * (g[k] + wd * p[k] + mu * (p[k] - p0[k]))
            steps += 1

    out = []
    for name, (w, b, n_out, n_in) in zip(names, layers):
        out.append((name + ".weight", [n_out, n_in], w))
        out.append((name + ".bias", [n_out], b))
    write_safetensors(env["FLOE_MODEL_OUT"], out)
    result = {
        "num_examples": n,
        "metrics": {"train_loss": loss_sum / n, "train_accuracy": correct / n, "steps": steps},
    }
    with open(env["FLOE_RESULT_OUT"], "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
