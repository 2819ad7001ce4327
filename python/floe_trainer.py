"""The trainer side of floe's resident-trainer protocol, version 1.

Standard library only (PyTorch is imported by serve_torch alone). The
protocol is specified in model/doc.go ("Resident trainers"): frames of a
4-byte big-endian length and a JSON object on stdin/stdout; hello, then
train / evaluate requests answered one at a time, then shutdown.

A PyTorch user writes a model, a train and an evaluate function:

    import torch, floe_trainer

    def train(model, x, y, config):      # x float32 [N, D], y int64 [N]
        opt = torch.optim.SGD(model.parameters(), lr=config.lr)
        ...
        return {"train_loss": loss}

    def evaluate(model, x, y):
        ...
        return {"loss": loss, "accuracy": acc}

    floe_trainer.serve_torch(MyNet, train, evaluate)

and runs it under floe with `--trainer-mode resident --trainer "python3 my.py"`.
The model's state_dict is read from and written to floe's safetensors
files by name, strictly (load_state_dict(strict=True)), in each tensor's
own dtype.

Anything printed goes to stderr: the protocol owns the real stdout.
"""

import json
import os
import struct
import sys
import traceback

PROTOCOL = "floe-trainer"
VERSION = 1
FRAME_MAX = 1 << 20

# safetensors dtype -> (struct code, size)
DTYPES = {
    "F64": ("d", 8), "F32": ("f", 4), "F16": ("e", 2), "BF16": (None, 2),
    "I64": ("q", 8), "I32": ("i", 4), "I16": ("h", 2), "I8": ("b", 1),
    "U8": ("B", 1), "BOOL": ("?", 1),
}


class ProtocolError(Exception):
    pass


def read_safetensors(path):
    """Return ({name: (dtype, shape, raw bytes)}, metadata) of a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: shorter than a header")
    (n,) = struct.unpack_from("<Q", blob, 0)
    if n > len(blob) - 8:
        raise ValueError(f"{path}: truncated header")
    header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    data = memoryview(blob)[8 + n :]
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        out[name] = (info["dtype"], list(info["shape"]), data[begin:end])
    return out, meta


def write_safetensors(path, tensors, meta=None):
    """Write [(name, dtype, shape, raw little-endian bytes)], packed in order."""
    header, off = {}, 0
    if meta:
        header["__metadata__"] = dict(meta)
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, _, _, raw in tensors:
            f.write(raw)
    os.replace(tmp, path)


def values(dtype, raw):
    """Decode raw little-endian bytes of a dtype into a list of numbers."""
    code, size = DTYPES[dtype]
    if code is None:  # BF16: the high half of a float32
        return [struct.unpack("<f", b"\x00\x00" + bytes(raw[i : i + 2]))[0] for i in range(0, len(raw), 2)]
    return list(struct.unpack(f"<{len(raw) // size}{code}", raw))


class Config:
    """A train request's hyperparameters as attributes (epochs, steps,
    batch_size, lr, mu, weight_decay, seed)."""

    def __init__(self, d):
        self.epochs = int(d.get("epochs", 1))
        self.steps = int(d.get("steps", 0))
        self.batch_size = int(d.get("batch_size", 0))
        self.lr = float(d.get("lr", 0))
        self.mu = float(d.get("mu", 0))
        self.weight_decay = float(d.get("weight_decay", 0))
        self.seed = int(d.get("seed", 0))

    def __repr__(self):
        return f"Config({vars(self)})"


class Request:
    """One train or evaluate request: type, id, model_in, model_out (train),
    data and data_id (absent without data), config (train)."""

    def __init__(self, msg):
        self.type = msg["type"]
        self.id = msg.get("id", 0)
        self.model_in = msg.get("model_in", "")
        self.model_out = msg.get("model_out", "")
        self.data = msg.get("data", "")
        self.data_id = msg.get("data_id", "")
        self.config = Config(msg.get("config") or {})


def _read_frame(f):
    head = f.read(4)
    if not head:
        return None
    if len(head) < 4:
        raise ProtocolError("truncated frame header")
    (n,) = struct.unpack(">I", head)
    if n == 0 or n > FRAME_MAX:
        raise ProtocolError(f"frame of {n} bytes")
    body = f.read(n)
    if len(body) < n:
        raise ProtocolError("truncated frame")
    return json.loads(body.decode("utf-8"))


def _write_frame(f, msg):
    body = json.dumps(msg, separators=(",", ":"), allow_nan=False).encode("utf-8")
    if len(body) > FRAME_MAX:
        raise ProtocolError(f"reply of {len(body)} bytes")
    f.write(struct.pack(">I", len(body)) + body)
    f.flush()


def _finite_metrics(metrics):
    out = {}
    for k, v in (metrics or {}).items():
        v = float(v)
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError(f"metric {k} is not finite: {v}")
        out[str(k)] = v
    return out


def serve(train=None, evaluate=None, stdin=None, stdout=None):
    """Answer floe's requests until shutdown or end of input.

    train(request) trains from request.model_in, writes request.model_out
    and returns (num_examples, metrics); evaluate(request) returns
    (num_examples, metrics). An exception in either is sent to floe as an
    error reply (failing that call only) and serving goes on.
    """
    if stdout is None:
        # The protocol keeps the real stdout; everything printed, by Python
        # or by C libraries, goes to stderr instead.
        stdout = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)
        sys.stdout = sys.stderr
    if stdin is None:
        stdin = sys.stdin.buffer
    hello = _read_frame(stdin)
    if hello is None:
        return
    if hello.get("type") != "hello" or hello.get("protocol") != PROTOCOL or VERSION not in hello.get("versions", []):
        raise ProtocolError(f"unexpected hello {hello!r}: this module speaks {PROTOCOL} version {VERSION}")
    _write_frame(stdout, {"type": "hello", "protocol": PROTOCOL, "version": VERSION})
    handlers = {"train": train, "evaluate": evaluate}
    while True:
        msg = _read_frame(stdin)
        if msg is None or msg.get("type") == "shutdown":
            return
        req = Request(msg)
        fn = handlers.get(req.type)
        try:
            if fn is None:
                raise ValueError(f"this trainer does not implement {req.type!r}")
            n, metrics = fn(req)
            reply = {"type": "result", "id": req.id, "num_examples": int(n), "metrics": _finite_metrics(metrics)}
        except Exception:
            reply = {"type": "error", "id": req.id, "message": traceback.format_exc()[-4000:]}
            print(reply["message"], file=sys.stderr)
        _write_frame(stdout, reply)


# PyTorch adapter.

_TORCH_DTYPES = None


def _torch_dtypes(torch):
    global _TORCH_DTYPES
    if _TORCH_DTYPES is None:
        _TORCH_DTYPES = {
            "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
            "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
            "U8": torch.uint8, "BOOL": torch.bool,
        }
    return _TORCH_DTYPES


def load_state(path):
    """Read a safetensors file as a dict of torch tensors (name -> tensor)."""
    import torch

    dtypes = _torch_dtypes(torch)
    tensors, _ = read_safetensors(path)
    state = {}
    for name, (dtype, shape, raw) in tensors.items():
        if dtype not in dtypes:
            raise ValueError(f"{name}: dtype {dtype} has no torch equivalent")
        if len(raw) == 0:
            state[name] = torch.empty(shape, dtype=dtypes[dtype])
        else:
            state[name] = torch.frombuffer(bytearray(raw), dtype=dtypes[dtype]).reshape(shape)
    return state


def save_state(path, state, meta=None):
    """Write a state dict (name -> tensor) as safetensors, each tensor in its own dtype."""
    import torch

    names = {v: k for k, v in _torch_dtypes(torch).items()}
    out = []
    for name, t in state.items():
        t = t.detach().cpu().contiguous()
        if t.dtype not in names:
            raise ValueError(f"{name}: dtype {t.dtype} has no safetensors name")
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        out.append((name, names[t.dtype], list(t.shape), raw))
    write_safetensors(path, out, meta)


def load_data(path):
    """Read floe's data file: x float32 [N, D], y int64 [N] and the class count."""
    _, meta = read_safetensors(path)
    state = load_state(path)
    return state["x"], state["y"], int(meta.get("classes", 0))


def serve_torch(model_fn, train_fn, evaluate_fn=None):
    """Serve a PyTorch model: model_fn() builds the torch.nn.Module once;
    train_fn(model, x, y, config) trains it in place and returns a dict of
    metrics; evaluate_fn(model, x, y) returns a dict of metrics. floe's
    model files are loaded with load_state_dict(strict=True), and the data
    file is loaded once per data_id."""
    import torch

    threads = os.environ.get("FLOE_TORCH_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    model = model_fn()
    cache = {}

    def data(req):
        if not req.data:
            raise ValueError("no data: this trainer needs floe to pass it the local data")
        if cache.get("id") != req.data_id:
            tensors = load_state(req.data)
            cache.clear()
            cache.update(id=req.data_id, x=tensors["x"], y=tensors["y"])
        return cache["x"], cache["y"]

    def train(req):
        model.load_state_dict(load_state(req.model_in), strict=True)
        x, y = data(req)
        model.train()
        metrics = train_fn(model, x, y, req.config) or {}
        save_state(req.model_out, model.state_dict())
        return len(y), metrics

    def evaluate(req):
        if evaluate_fn is None:
            raise ValueError("this trainer has no evaluate function")
        model.load_state_dict(load_state(req.model_in), strict=True)
        x, y = data(req)
        model.eval()
        with torch.no_grad():
            metrics = evaluate_fn(model, x, y) or {}
        return len(y), metrics

    serve(train, evaluate)
