#!/usr/bin/env python3
"""Runs the reference-protocol comparisons (examples/{mlp,cnn,cnn_bn,ds_cnn}.json)
with `qatlab-worker run`, one run each, and checks them against the reference
table in docs/benchmarks.md, "The PyTorch reference" (PyTorch 1.13.1, same data
and protocol; ds_cnn has no PyTorch figures, so only its integer-model checks
apply).

Too slow for every CI run (about 50 s for the four presets on 2 cores); run on demand:
    bench/engine/reference_protocol.py --worker build/worker/qatlab-worker
Prints one table per preset and the checks of issue #2; exits 1 if any fails.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

# PyTorch reference figures (docs/benchmarks.md, "The PyTorch reference"):
# float, PTQ int8, QAT int8, PTQ w4a8, QAT w4a8, PTQ w2a8, QAT w2a8.
REFERENCE = {
    "mlp": {"float": 94.60, "ptq_w8a8": 94.60, "qat_w8a8": 95.55, "ptq_w4a8": 94.25,
            "qat_w4a8": 95.30, "ptq_w2a8": 88.05, "qat_w2a8": 94.45},
    "cnn": {"float": 97.05, "ptq_w8a8": 97.15, "qat_w8a8": 97.20, "ptq_w4a8": 96.80,
            "qat_w4a8": 97.20, "ptq_w2a8": 51.50, "qat_w2a8": 91.85},
    "cnn_bn": {"float": 97.60, "ptq_w8a8": 97.60, "qat_w8a8": 98.00, "ptq_w4a8": 97.25,
               "qat_w4a8": 97.95, "ptq_w2a8": 63.65, "qat_w2a8": 93.65},
}


def run(worker, example, out_dir):
    proc = subprocess.run([worker, "run", example, "--out", out_dir],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
    return json.loads(proc.stdout)


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", default=os.path.join(root, "build/worker/qatlab-worker"))
    parser.add_argument("--presets", default="mlp,cnn,cnn_bn,ds_cnn")
    args = parser.parse_args()

    failures = []
    for preset in args.presets.split(","):
        with tempfile.TemporaryDirectory() as out:
            result = run(args.worker, os.path.join(root, "examples", preset + ".json"), out)
        variants = {v["name"]: v for v in result["variants"]}
        ref = REFERENCE.get(preset, {})
        print(f"\n{preset}: {result['trainSamples']} train / {result['testSamples']} test, "
              f"{result['totalSeconds']:.1f} s")
        print(f"  {'variant':<10} {'ours':>7} {'integer':>8} {'agree':>7} {'flash B':>9} {'PyTorch':>8}")
        for name, v in variants.items():
            print(f"  {name:<10} {v['accuracy']:7.2f} {v.get('integerAccuracy', 0):8.2f} "
                  f"{v.get('agreement', 0):7.2f} {int(v['flashBytes']):9d} {ref.get(name, float('nan')):8.2f}")
        fl = variants["float"]["accuracy"]

        def check(ok, what):
            print(f"  [{'ok' if ok else 'FAIL'}] {what}")
            if not ok:
                failures.append(f"{preset}: {what}")

        if "float" in ref:
            check(fl >= ref["float"] - 0.5, f"float {fl:.2f} within 0.5 of {ref['float']:.2f} or above")
        q8 = variants["qat_w8a8"]["integerAccuracy"]
        check(q8 >= fl - 0.2, f"QAT int8 on the integer kernels {q8:.2f} >= float - 0.2")
        if "qat_w4a8" in variants:
            q4 = variants["qat_w4a8"]["accuracy"]
            check(q4 >= fl - 0.5, f"QAT w4a8 {q4:.2f} >= float - 0.5")
        if preset == "cnn" and "qat_w2a8" in variants:
            q2 = variants["qat_w2a8"]["accuracy"]
            check(q2 >= 90.0, f"QAT w2a8 {q2:.2f} >= 90 (PTQ w2a8: {variants['ptq_w2a8']['accuracy']:.2f})")
        # Every exported integer model, PTQ as well as QAT.
        for name, v in variants.items():
            if v.get("artifact"):
                check(v["agreement"] >= 99.8, f"{name} integer/fake-quant agreement {v['agreement']:.2f} >= 99.8")
        if preset == "mlp":
            float_bytes = int(result["floatWeightBytes"])
            for name, limit in (("qat_w8a8", 0.26), ("qat_w4a8", 0.14)):
                if name in variants:
                    share = int(variants[name]["flashBytes"]) / float_bytes
                    check(share <= limit, f"{name} flash {share:.1%} of float32 <= {limit:.0%}")
    print("\nall checks passed" if not failures else f"\n{len(failures)} checks failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
