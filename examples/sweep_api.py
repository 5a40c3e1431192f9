#!/usr/bin/python3
"""Submit a sweep file to a qatlab-server through the API and follow it.

A sweep (docs/sweeps.md) is one submission: a base job spec and a grid over
bit widths, per-tensor/per-channel, activation symmetry, PTQ calibration,
QAT learning rate and epochs, and seeds. The server trains the float
baseline once per seed and runs one job per grid point from it. This script
submits the file (SubmitSweep), follows the sweep until every job ended
(GetSweep), printing each job as it finishes, and ends with one table of all
variants, the shared float model once.

Needs the Python stubs generated at build time and Debian's grpc/protobuf:

    PYTHONPATH=build/python /usr/bin/python3 examples/sweep_api.py \
        --server 127.0.0.1:50051 examples/sweep_cnn.json

Exit status: 0 when every job succeeded, 1 otherwise (2 for a bad file).
"""

import argparse
import json
import os
import sys
import time

import grpc
from google.protobuf import json_format

from qatlab.v1 import experiment_pb2, experiment_pb2_grpc, job_pb2

# The token file is read as examples/sweep.py (and qatctl) read it.
from sweep import read_token

FINAL_STATES = {experiment_pb2.SUCCEEDED, experiment_pb2.FAILED, experiment_pb2.CANCELLED}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_file", help="the sweep: qatlab.v1.SweepSpec as JSON")
    parser.add_argument("--server", default=os.environ.get("QATLAB_SERVER") or "127.0.0.1:50051")
    parser.add_argument("--token-file", help="file holding a client token (default $QATLAB_TOKEN)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the whole sweep")
    parser.add_argument("--json-out", help="write the sweep and every job's results here as JSON")
    return parser.parse_args()


def read_sweep(path):
    """The sweep file as a SweepSpec. A per-layer bit list is written as a
    plain list ([[8, 4, 8]]); the message wraps each in a LayerBits."""
    with open(path, encoding="utf-8") as f:
        document = json.load(f)
    grid = document.get("grid", {})
    for axis in ("layer_weight_bits", "layerWeightBits"):
        if axis in grid:
            grid[axis] = [{"bits": bits} for bits in grid[axis]]
    return json_format.ParseDict(document, job_pb2.SweepSpec())


def state_name(state):
    return experiment_pb2.JobState.Name(state)


def role(job, sweep):
    if job.id in sweep.baseline_job_ids:
        return "baseline (seed %d)" % job.spec.seed
    return job.spec.configs[0].name if job.spec.configs else ""


def main():
    args = parse_args()
    try:
        spec = read_sweep(args.sweep_file)
    except (OSError, ValueError, json_format.ParseError) as error:
        print("sweep_api: error: %s: %s" % (args.sweep_file, error), file=sys.stderr)
        return 2
    token = read_token(args.token_file)
    metadata = (("authorization", "Bearer " + token),) if token else ()
    stub = experiment_pb2_grpc.ExperimentServiceStub(grpc.insecure_channel(args.server))

    try:
        submitted = stub.SubmitSweep(experiment_pb2.SubmitSweepRequest(spec=spec), metadata=metadata, timeout=60)
    except grpc.RpcError as error:
        print("sweep_api: error: %s: %s" % (error.code().name, error.details()), file=sys.stderr)
        return 2 if error.code() == grpc.StatusCode.INVALID_ARGUMENT else 1
    sweep_id = submitted.sweep.id
    print("sweep %s: %d baseline(s), %d jobs" % (sweep_id, len(submitted.sweep.baseline_job_ids),
                                                len(submitted.sweep.job_ids)), flush=True)

    # A sweep's jobs end one by one: poll the sweep and report each ending.
    deadline = time.monotonic() + args.timeout
    reported = set()
    while True:
        status = stub.GetSweep(experiment_pb2.GetSweepRequest(id=sweep_id), metadata=metadata, timeout=30)
        for job in status.jobs:
            if job.state in FINAL_STATES and job.id not in reported:
                reported.add(job.id)
                error = (": " + job.error) if job.error else ""
                print("  %s %-28s %s%s" % (job.id, role(job, status.sweep), state_name(job.state), error), flush=True)
        if len(reported) == len(status.jobs):
            break
        if time.monotonic() > deadline:
            print("sweep_api: error: sweep %s not finished after %.0f s" % (sweep_id, args.timeout), file=sys.stderr)
            return 1
        time.sleep(1)

    results = []
    for job in status.jobs:
        if job.state == experiment_pb2.SUCCEEDED:
            results.append(stub.GetResults(experiment_pb2.GetResultsRequest(id=job.id), metadata=metadata, timeout=30))
    print("%-16s %-24s %9s %9s %9s" % ("JOB", "VARIANT", "ACCURACY", "INT ACC", "FLASH KB"))
    best = None
    for r in results:
        for v in r.result.variants:
            if v.kind == "float" and v.baseline_job:
                continue  # the baseline's float model, listed once under the baseline
            integer = "%.2f%%" % v.integer_accuracy if v.kind != "float" else "-"
            print("%-16s %-24s %8.2f%% %9s %9.1f" % (r.job.id, v.name, v.accuracy, integer, v.flash_bytes / 1024))
            if v.kind != "float" and (best is None or v.integer_accuracy > best[0]):
                best = (v.integer_accuracy, v.name, r.job.id)
    succeeded = sum(1 for job in status.jobs if job.state == experiment_pb2.SUCCEEDED)
    print("%d of %d jobs succeeded" % (succeeded, len(status.jobs)))
    if best:
        print("best: %s of %s, %.2f%% on the integer kernels" % (best[1], best[2], best[0]))

    if args.json_out:
        document = {
            "sweep": json_format.MessageToDict(status),
            "results": [json_format.MessageToDict(r) for r in results],
        }
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=1)
    return 0 if succeeded == len(status.jobs) else 1


if __name__ == "__main__":
    sys.exit(main())
