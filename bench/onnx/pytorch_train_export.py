#!/usr/bin/env python3
"""Trains the cnn_bn reference model in PyTorch on MNIST-10k and exports it
with torch.onnx.export, for bench/onnx/pytorch_roundtrip.sh.

The model is cnn_bn of engine/job_spec.cc (and of bench/engine/pytorch_epoch.py)
as a plain float nn.Sequential: conv 8 3x3 pad 1, batchnorm, relu, maxpool 2,
conv 16 3x3 pad 1, batchnorm, relu, maxpool 2, flatten, linear 10. Training:
the 8,000 training images (pixel / 255, NCHW) in shuffled batches of 64, Adam
at 1e-3, --epochs epochs. The exported model takes [batch, 1, 28, 28] floats
in [0, 1], the engine's input convention. Written twice: --out as
torch.onnx.export writes it by default (batchnorm folded into the convolutions)
and <out>_batchnorm.onnx with the BatchNormalization nodes kept.

Prints one JSON object on stdout:
    {"torch": version, "epochs": n, "train_seconds": s, "float_accuracy": percent
     (on the 2,000 test images), "onnx": {"folded": path, "batchnorm": path}, "opset": n}

    /usr/bin/python3 bench/onnx/pytorch_train_export.py --data ~/.cache/qatlab/mnist10k --out /tmp/cnn_bn.onnx
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
from idx_file import read_idx  # noqa: E402  (bench/data/idx_file.py)


def load_split(directory, prefix):
    images = read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte")).astype(np.float32) / np.float32(255)
    labels = read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels)


def cnn_bn():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, 1, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(7 * 7 * 16, 10))


def evaluate(model, images, labels, batch=250):
    model.eval()
    correct = 0
    with torch.no_grad():
        for begin in range(0, len(labels), batch):
            correct += (model(images[begin:begin + batch]).argmax(1) == labels[begin:begin + batch]).sum().item()
    return 100.0 * correct / len(labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the directory of the four MNIST-10k IDX files")
    parser.add_argument("--out", required=True, help="where to write the ONNX model")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--opset", type=int, default=13)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_images, train_labels = load_split(args.data, "train")
    test_images, test_labels = load_split(args.data, "t10k")

    model = cnn_bn()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    for _ in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_labels), generator=generator)
        for begin in range(0, len(train_labels), 64):
            index = order[begin:begin + 64]
            optimizer.zero_grad()
            loss_fn(model(train_images[index]), train_labels[index]).backward()
            optimizer.step()
    train_seconds = time.perf_counter() - start
    accuracy = evaluate(model, test_images, test_labels)

    model.eval()
    # Two exports of the same weights: torch.onnx.export's default (eval
    # mode: it folds each BatchNorm into its Conv), and one that keeps the
    # BatchNormalization nodes (TrainingMode.PRESERVE on a model in eval
    # mode skips that folding), so the import's own batchnorm path is run.
    exports = {"folded": args.out, "batchnorm": args.out.replace(".onnx", "") + "_batchnorm.onnx"}
    for kind, path in exports.items():
        mode = torch.onnx.TrainingMode.EVAL if kind == "folded" else torch.onnx.TrainingMode.PRESERVE
        torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, opset_version=args.opset, training=mode,
                          do_constant_folding=kind == "folded",
                          input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    json.dump({"torch": torch.__version__, "epochs": args.epochs, "train_seconds": round(train_seconds, 2),
               "float_accuracy": accuracy, "onnx": exports, "opset": args.opset}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
