#!/usr/bin/env python3
"""Writes a Fashion-MNIST-sized IDX data set (60,000 training and 10,000 test
images of 28x28, ten classes) of seeded random bytes, and the one-epoch jobs
that train on it with and without a training limit.

The pixels are noise: the data set exists to measure what loading and
training on a set of this size costs (memory, time), not to learn anything.

usage: make_idx_dataset.py OUT_DIR [--train N] [--test N] [--seed S]
"""
import argparse
import json
import os
import random
import struct


def write_idx(path, dims, payload):
    with open(path, "wb") as out:
        out.write(struct.pack(">BBBB", 0, 0, 0x08, len(dims)))
        for d in dims:
            out.write(struct.pack(">I", d))
        out.write(payload)


def write_split(out_dir, prefix, count, rng):
    images = os.path.join(out_dir, prefix + "-images-idx3-ubyte")
    labels = os.path.join(out_dir, prefix + "-labels-idx1-ubyte")
    write_idx(images, [count, 28, 28], rng.randbytes(count * 28 * 28))
    write_idx(labels, [count], bytes(rng.randrange(10) for _ in range(count)))
    return images, labels


def job(train, test, train_limit):
    data = {"source": "idx", "trainImages": train[0], "trainLabels": train[1],
            "testImages": test[0], "testLabels": test[1]}
    if train_limit:
        data["trainLimit"] = train_limit
    return {
        "experiment": "memory: one epoch on a Fashion-MNIST-sized IDX set"
                      + (f" (trainLimit {train_limit})" if train_limit else ""),
        "model": {"preset": "mlp"},
        "data": data,
        "training": {"optimizer": "adam", "learningRate": 0.001, "batchSize": 64, "epochs": 1},
        "qat": {"epochs": 1, "learningRate": 0.0001},
        "ptq": {"calibrationSamples": 512, "method": "minmax"},
        "configs": [{"name": "w8a8", "weightBits": 8, "activationBits": 8}],
        "seed": 1,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--train", type=int, default=60000)
    parser.add_argument("--test", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--train-limit", type=int, default=6000,
                        help="the training limit of the limited job")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    out_dir = os.path.abspath(args.out_dir)
    rng = random.Random(args.seed)
    train = write_split(out_dir, "train", args.train, rng)
    test = write_split(out_dir, "t10k", args.test, rng)
    for name, limit in (("job_full.json", 0), ("job_limited.json", args.train_limit)):
        with open(os.path.join(out_dir, name), "w") as out:
            json.dump(job(train, test, limit), out, indent=2)
            out.write("\n")


if __name__ == "__main__":
    main()
