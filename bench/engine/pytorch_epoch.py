#!/usr/bin/env python3
"""Seconds per float and QAT int8 training epoch in PyTorch, for the presets
mlp, cnn and cnn_bn under the reference protocol, on the same data as
bench_qat_epoch (which runs this script and prints the ratio of the two).

Protocol (docs/benchmarks.md, "The PyTorch reference"): MNIST-10k's 8,000 training
images (pixel / 255) in batches of 64, shuffled every epoch; float epochs
with Adam at 1e-3, then QAT epochs from the float model with Adam at 1e-4.
Each epoch's time includes the evaluation of the 2,000 test images, as
bench_qat_epoch's figures do. QAT is eager-mode torch.ao.quantization:
conv/linear + batchnorm + relu fused (fuse_modules_qat), prepare_qat with the
qnnpack default QAT qconfig (per-tensor affine int8 weights, fake-quantized
activations with moving-average min-max observers), qnnpack as the
quantized engine: Debian's build has qnnpack and onednn, not fbgemm, and
onednn gives wrong int8 answers on CPUs without VNNI.

Prints one JSON object on stdout:
    {"torch": version, "threads": n, "qengine": "qnnpack", "epochs": n,
     "presets": [{"preset", "float_seconds", "qat_seconds" (per epoch, wall),
                  "float_cpu_seconds", "qat_cpu_seconds" (per epoch, process
                  CPU), "qat_test_accuracy", "peak_rss_mib"}]}
peak_rss_mib is this process's peak after the preset's runs: run one preset
per process for a per-preset figure.

    /usr/bin/python3 bench/engine/pytorch_epoch.py --threads 2 --presets cnn
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import torch
from torch import nn
import torch.ao.quantization as quantization

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
from idx_file import read_idx  # noqa: E402  (bench/data/idx_file.py)


def load_split(directory, prefix):
    images = read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte")).astype(np.float32) / np.float32(255)
    labels = read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels)


class Preset(nn.Module):
    """A preset of engine/job_spec.cc between quantization stubs.

    `fuse` lists the module groups fused for QAT (each a weighted layer with
    its batchnorm and relu), the same groups qatlab fuses."""

    def __init__(self, preset):
        super().__init__()
        self.quant = quantization.QuantStub()
        self.dequant = quantization.DeQuantStub()
        if preset == "mlp":
            layers = [("flatten", nn.Flatten()), ("fc1", nn.Linear(784, 128)), ("relu1", nn.ReLU()),
                      ("fc2", nn.Linear(128, 64)), ("relu2", nn.ReLU()), ("fc3", nn.Linear(64, 10))]
            self.fuse = [["fc1", "relu1"], ["fc2", "relu2"]]
        elif preset in ("cnn", "cnn_bn"):
            bn = preset == "cnn_bn"
            layers = [("conv1", nn.Conv2d(1, 8, 3, 1, 1))]
            layers += [("bn1", nn.BatchNorm2d(8))] if bn else []
            layers += [("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)), ("conv2", nn.Conv2d(8, 16, 3, 1, 1))]
            layers += [("bn2", nn.BatchNorm2d(16))] if bn else []
            layers += [("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)), ("flatten", nn.Flatten()),
                       ("fc", nn.Linear(7 * 7 * 16, 10))]
            self.fuse = [["conv1", "bn1", "relu1"], ["conv2", "bn2", "relu2"]] if bn else \
                [["conv1", "relu1"], ["conv2", "relu2"]]
        else:
            raise ValueError(f"unknown preset {preset}")
        self.body = nn.Sequential()
        for name, layer in layers:
            self.body.add_module(name, layer)
        self.fuse = [["body." + name for name in group] for group in self.fuse]

    def forward(self, x):
        return self.dequant(self.body(self.quant(x)))


def run_epoch(model, optimizer, train, test, batch, generator):
    """One training epoch and the test evaluation; returns wall and CPU seconds."""
    images, labels = train
    wall, cpu = time.perf_counter(), time.process_time()
    model.train()
    order = torch.randperm(len(labels), generator=generator)
    loss_fn = nn.CrossEntropyLoss()
    for begin in range(0, len(labels), batch):
        index = order[begin:begin + batch]
        optimizer.zero_grad()
        loss = loss_fn(model(images[index]), labels[index])
        loss.backward()
        optimizer.step()
    accuracy = evaluate(model, test)
    return time.perf_counter() - wall, time.process_time() - cpu, accuracy


def evaluate(model, test, batch=250):
    images, labels = test
    model.eval()
    correct = 0
    with torch.no_grad():
        for begin in range(0, len(labels), batch):
            correct += (model(images[begin:begin + batch]).argmax(1) == labels[begin:begin + batch]).sum().item()
    return 100.0 * correct / len(labels)


def time_preset(preset, train, test, epochs, batch):
    torch.manual_seed(1)
    generator = torch.Generator().manual_seed(1)
    model = Preset(preset)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    float_runs = [run_epoch(model, optimizer, train, test, batch, generator) for _ in range(epochs)]

    model.eval()
    model = quantization.fuse_modules_qat(model.train(), model.fuse)
    model.qconfig = quantization.get_default_qat_qconfig("qnnpack")
    quantization.prepare_qat(model, inplace=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    qat_runs = [run_epoch(model, optimizer, train, test, batch, generator) for _ in range(epochs)]

    def mean(runs, k):
        return sum(r[k] for r in runs) / len(runs)

    return {
        "preset": preset,
        "float_seconds": mean(float_runs, 0),
        "qat_seconds": mean(qat_runs, 0),
        "float_cpu_seconds": mean(float_runs, 1),
        "qat_cpu_seconds": mean(qat_runs, 1),
        "qat_test_accuracy": qat_runs[-1][2],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-cache", default=os.path.expanduser("~/.cache/qatlab"),
                        help="the qatlab data cache (MNIST-10k's IDX files are in its mnist10k/)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed per phase (the figure is their mean)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--presets", default="mlp,cnn,cnn_bn")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.backends.quantized.engine = "qnnpack"
    directory = os.path.join(args.data_cache, "mnist10k")
    train = load_split(directory, "train")
    test = load_split(directory, "t10k")
    results = [time_preset(p, train, test, args.epochs, args.batch) for p in args.presets.split(",")]
    json.dump({"torch": torch.__version__, "threads": args.threads, "qengine": "qnnpack", "epochs": args.epochs,
               "presets": results}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
