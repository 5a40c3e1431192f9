#!/usr/bin/env python3
"""Writes cnn_golden.bin: one training step of the `cnn` preset computed by
PyTorch, for tests/engine/golden/cnn_golden_test.cc to compare against.

The network is the `cnn` preset of engine/job_spec.cc, built from PyTorch's
own layers:
    conv2d 8 filters 3x3 stride 1 pad 1, relu, maxpool 2,
    conv2d 16 filters 3x3 stride 1 pad 1, relu, maxpool 2,
    flatten, dense 10.
qatlab is NHWC and flattens in H, W, C order; PyTorch is NCHW. The model
below permutes the last pooled activation to NHWC before flattening, so the
dense weight is the same [10][7*7*16] matrix in both.

The batch: the first 8 images of MNIST-10k's training file (pixel / 255,
as engine/dataset.cc) and their labels. The weights come from a seeded
torch.Generator (uniform in +-1/sqrt(fan_in), PyTorch's default bound),
not from qatlab's initializer: the test copies them in, so the golden file
does not depend on how qatlab draws its initial weights.

File format (little-endian):
    char[4]  magic "QLGD"
    uint32   version (1)
    uint32   array count
    per array:
        uint32 name length, name bytes (ASCII, no terminator)
        uint32 rank, uint32 dims[rank]
        float32 values[prod(dims)], row-major
Every array is float32; labels are small integers, exact in float32.
Parameters and their gradients are stored in qatlab's layout:
    conv weights [filters][kh][kw][in_channels], dense [units][inputs (HWC)],
    input and its gradient (N, H, W, C),
and in Network::Parameters order (conv1.weight, conv1.bias, conv2.weight,
conv2.bias, dense.weight, dense.bias). Gradients are those of the mean
softmax cross-entropy over the batch (engine SoftmaxCrossEntropy).

Regenerate (Debian's python3-torch; the output is committed):
    /usr/bin/python3 tests/engine/golden/make_cnn_golden.py
The script prints how far PyTorch's float32 results are from a float64
run of the same step, the scale the test's tolerance is chosen against.
"""
import argparse
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "bench", "data"))
from idx_file import read_idx  # noqa: E402  (bench/data/idx_file.py)

MAGIC = b"QLGD"
VERSION = 1
BATCH = 8
SEED = 20261204


def initial_parameters():
    """PyTorch-layout parameters (OIHW convolutions, dense on HWC inputs)."""
    generator = torch.Generator().manual_seed(SEED)

    def uniform(shape, fan_in):
        bound = 1.0 / fan_in ** 0.5
        return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound

    return {
        "conv1.weight": uniform((8, 1, 3, 3), 9),
        "conv1.bias": uniform((8,), 9),
        "conv2.weight": uniform((16, 8, 3, 3), 72),
        "conv2.bias": uniform((16,), 72),
        "dense.weight": uniform((10, 7 * 7 * 16), 784),
        "dense.bias": uniform((10,), 784),
    }


def forward(params, images_nchw):
    x = F.conv2d(images_nchw, params["conv1.weight"], params["conv1.bias"], stride=1, padding=1)
    x = F.max_pool2d(F.relu(x), 2)
    x = F.conv2d(x, params["conv2.weight"], params["conv2.bias"], stride=1, padding=1)
    x = F.max_pool2d(F.relu(x), 2)
    x = x.permute(0, 2, 3, 1).flatten(1)  # qatlab's HWC flattening
    return F.linear(x, params["dense.weight"], params["dense.bias"])


def training_step(params64, images64, labels, dtype):
    params = {k: v.to(dtype).clone().requires_grad_(True) for k, v in params64.items()}
    images = images64.to(dtype).clone().requires_grad_(True)
    logits = forward(params, images)
    loss = F.cross_entropy(logits, labels)  # mean over the batch
    loss.backward()
    grads = {k: v.grad for k, v in params.items()}
    return params, images, logits, loss, grads, images.grad


def to_qatlab_layout(name, value):
    """OIHW convolution weights to [filters][kh][kw][in]; others unchanged."""
    if value.dim() == 4:
        return value.permute(0, 2, 3, 1)
    return value


def nchw_to_nhwc(value):
    return value.permute(0, 2, 3, 1)


def write_golden(path, arrays):
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<II", VERSION, len(arrays)))
        for name, value in arrays:
            data = np.ascontiguousarray(value.detach().to(torch.float32).numpy(), dtype="<f4")
            encoded = name.encode("ascii")
            f.write(struct.pack("<I", len(encoded)))
            f.write(encoded)
            f.write(struct.pack("<I", data.ndim))
            f.write(struct.pack("<" + "I" * data.ndim, *data.shape))
            f.write(data.tobytes())


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-cache", default=os.path.expanduser("~/.cache/qatlab/mnist10k"),
                        help="directory with MNIST-10k's IDX files")
    parser.add_argument("--out", default=os.path.join(here, "cnn_golden.bin"))
    args = parser.parse_args()

    pixels = read_idx(os.path.join(args.data_cache, "train-images-idx3-ubyte"))[:BATCH]
    labels = torch.from_numpy(read_idx(os.path.join(args.data_cache, "train-labels-idx1-ubyte"))[:BATCH].astype(np.int64))
    # pixel / 255 in float32, as engine/dataset.cc divides.
    images32 = torch.from_numpy(pixels.astype(np.float32) / np.float32(255.0))
    images64 = images32.to(torch.float64).unsqueeze(1)  # N, 1, 28, 28
    params64 = {k: v.to(torch.float32).to(torch.float64) for k, v in initial_parameters().items()}

    torch.set_num_threads(1)
    params, images, logits, loss, grads, input_grad = training_step(params64, images64, labels, torch.float32)
    _, _, logits64, loss64, grads64, input_grad64 = training_step(params64, images64, labels, torch.float64)

    def report(name, value32, value64):
        error = (value32.double() - value64).abs().max().item()
        scale = value64.abs().max().item()
        print(f"{name:>20}: max |float32 - float64| {error:.3g}, max |float64| {scale:.3g}, "
              f"ratio {error / scale if scale else 0:.3g}")

    report("logits", logits, logits64)
    report("loss", loss.reshape(1), loss64.reshape(1))
    for name in grads:
        report("grad." + name, grads[name], grads64[name])
    report("grad.input", input_grad, input_grad64)

    arrays = [("input", nchw_to_nhwc(images)), ("labels", labels.to(torch.float32))]
    arrays += [(name, to_qatlab_layout(name, value)) for name, value in params.items()]
    arrays += [("logits", logits), ("loss", loss.reshape(1))]
    arrays += [("grad." + name, to_qatlab_layout(name, value)) for name, value in grads.items()]
    arrays += [("grad.input", nchw_to_nhwc(input_grad))]
    write_golden(args.out, arrays)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes), labels {labels.tolist()}, "
          f"loss {loss.item():.6f}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
