#!/usr/bin/env python3
"""A PyTorch trainer for floe: the FedAvg paper's MNIST CNN, resident.

Models (--model):
  cnn          two 5x5 conv layers (32 and 64 channels), each followed by
               BatchNorm, ReLU and 2x2 max pooling, a 512-unit ReLU layer
               and a 10-way output (McMahan et al. 2017, with BatchNorm).
               Its state_dict holds BatchNorm's running statistics and
               num_batches_tracked (int64).
  cnn-nostats  the same with BatchNorm(track_running_stats=False): batch
               statistics at evaluation too, and an all-float32 state_dict.
  mlp:784-64-10
               a ReLU MLP whose tensors fc1.weight, fc1.bias, ... are floe's
               built-in layout, so a floe job with that model runs it.

Run under floe (one process per participant, kept for the whole job):

    floe sim --dataset mnist --model mlp:784-64-10 --trainer-mode resident \\
        --trainer "python3 examples/pytorch/mnist_cnn.py --model mlp:784-64-10"

Write a seeded initial model:  mnist_cnn.py --model cnn --init model.safetensors
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

import floe_trainer  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


class CNN(nn.Module):
    def __init__(self, track_running_stats=True):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.bn1 = nn.BatchNorm2d(32, track_running_stats=track_running_stats)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.bn2 = nn.BatchNorm2d(64, track_running_stats=track_running_stats)
        self.fc1 = nn.Linear(64 * 7 * 7, 512)
        self.fc2 = nn.Linear(512, 10)

    def forward(self, x):
        x = x.view(-1, 1, 28, 28)
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


class MLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.n = len(sizes) - 1
        for i in range(self.n):
            setattr(self, f"fc{i + 1}", nn.Linear(sizes[i], sizes[i + 1]))

    def forward(self, x):
        for i in range(self.n):
            x = getattr(self, f"fc{i + 1}")(x)
            if i < self.n - 1:
                x = F.relu(x)
        return x


def build(spec):
    if spec == "cnn":
        return CNN()
    if spec == "cnn-nostats":
        return CNN(track_running_stats=False)
    if spec.startswith("mlp:"):
        return MLP([int(s) for s in spec[4:].split("-")])
    sys.exit(f"mnist_cnn.py: unknown model {spec!r} (cnn, cnn-nostats or mlp:IN-H-...-CLASSES)")


def train(model, x, y, config):
    """Local SGD (torch.optim.SGD) for config.epochs passes, or config.steps
    mini-batches, with FedProx's proximal term when config.mu > 0."""
    gen = torch.Generator().manual_seed(config.seed & (2**63 - 1))
    n = len(y)
    batch = config.batch_size if 0 < config.batch_size < n else n
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    start = [p.detach().clone() for p in model.parameters()] if config.mu > 0 else None
    steps, loss_sum, correct, seen, epoch = 0, 0.0, 0, 0, 0
    while (config.steps > 0 and steps < config.steps) or (config.steps == 0 and epoch < config.epochs):
        loss_sum, correct, seen = 0.0, 0, 0
        order = torch.randperm(n, generator=gen)
        for s in range(0, n, batch):
            if config.steps > 0 and steps >= config.steps:
                break
            idx = order[s : s + batch]
            xb, yb = x[idx], y[idx]
            opt.zero_grad()
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            if start is not None:
                loss = loss + config.mu / 2 * sum(((p - p0) ** 2).sum() for p, p0 in zip(model.parameters(), start))
            loss.backward()
            opt.step()
            steps += 1
            loss_sum += float(loss) * len(yb)
            correct += int((out.argmax(1) == yb).sum())
            seen += len(yb)
        epoch += 1
    return {"train_loss": loss_sum / max(seen, 1), "train_accuracy": correct / max(seen, 1), "steps": steps}


def evaluate(model, x, y):
    loss_sum, correct = 0.0, 0
    for s in range(0, len(y), 1000):
        out = model(x[s : s + 1000])
        loss_sum += float(F.cross_entropy(out, y[s : s + 1000], reduction="sum"))
        correct += int((out.argmax(1) == y[s : s + 1000]).sum())
    return {"loss": loss_sum / len(y), "accuracy": correct / len(y)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--init", metavar="FILE", help="write a seeded initial model to FILE and exit")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.init:
        torch.manual_seed(args.seed)
        floe_trainer.save_state(args.init, build(args.model).state_dict())
        return
    floe_trainer.serve_torch(lambda: build(args.model), train, evaluate)


if __name__ == "__main__":
    main()
