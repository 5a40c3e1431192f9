#!/usr/bin/python3
"""Submit a small quantization sweep to a qatlab-server, follow it, compare.

One job per model preset, each comparing the float model with every
requested bit configuration (PTQ and QAT). The jobs run in parallel on the
server's workers; this script follows each one's progress stream and ends
with one table over all of them.

Needs the Python stubs generated at build time and Debian's grpc/protobuf:

    PYTHONPATH=build/python /usr/bin/python3 examples/sweep.py \
        --server 127.0.0.1:50051 --presets mlp,cnn --bits 8,4,2

With --export-dir, each succeeded job's quantized models are then exported
(ExportModel) into that directory as <job>-<variant>.qmodel (or .onnx, or a
<job>-<variant>-c/ directory for --export-format c).

Exit status: 0 when every job succeeded (and exported), 1 otherwise.
"""

import argparse
import hashlib
import os
import sys
import threading
import time

import grpc
from google.protobuf import json_format

from qatlab.v1 import experiment_pb2, experiment_pb2_grpc, job_pb2

FINAL_STATES = {experiment_pb2.SUCCEEDED, experiment_pb2.FAILED, experiment_pb2.CANCELLED}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("QATLAB_SERVER") or "127.0.0.1:50051")
    parser.add_argument("--token-file", help="file holding a client token (default $QATLAB_TOKEN)")
    parser.add_argument("--tls", action="store_true", default=os.environ.get("QATLAB_TLS") == "1",
                        help="connect with TLS, trusting the system's CA certificates ($QATLAB_TLS=1)")
    parser.add_argument("--tls-ca", default=os.environ.get("QATLAB_TLS_CA"),
                        help="connect with TLS, trusting the CA certificates in this PEM file ($QATLAB_TLS_CA)")
    parser.add_argument("--tls-cert", default=os.environ.get("QATLAB_TLS_CERT"),
                        help="client certificate for mutual TLS, PEM ($QATLAB_TLS_CERT)")
    parser.add_argument("--tls-key", default=os.environ.get("QATLAB_TLS_KEY"),
                        help="private key of --tls-cert, PEM ($QATLAB_TLS_KEY)")
    parser.add_argument("--tls-server-name", default=os.environ.get("QATLAB_TLS_SERVER_NAME"),
                        help="name the server's certificate must carry, when not the host dialled")
    parser.add_argument("--presets", default="mlp,cnn", help="comma-separated model presets")
    parser.add_argument("--bits", default="8,4", help="comma-separated weight bit widths (activations 8)")
    parser.add_argument("--epochs", type=int, default=3, help="float training epochs")
    parser.add_argument("--qat-epochs", type=int, default=1)
    parser.add_argument("--train-limit", type=int, default=0, help="first N training samples (0: all)")
    parser.add_argument("--test-limit", type=int, default=0, help="first N test samples (0: all)")
    parser.add_argument("--experiment", default="sweep-" + time.strftime("%Y%m%d-%H%M%S"))
    parser.add_argument("--timeout", type=float, default=3600, help="give up after this many seconds")
    parser.add_argument("--json-out", help="also write every job's results (protobuf JSON) to this file")
    parser.add_argument("--export-dir", help="export every quantized variant of the succeeded jobs here")
    parser.add_argument("--export-format", default="qmodel", help="qmodel, onnx or c (default qmodel)")
    return parser.parse_args()


def read_token(token_file):
    """The first token line of the file ("TOKEN" or "ROLE TOKEN"; '#' lines
    skipped), as qatctl reads it; else $QATLAB_TOKEN."""
    if token_file:
        with open(token_file, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    return line.split()[-1]
        return ""
    return os.environ.get("QATLAB_TOKEN", "").strip()


def open_channel(args):
    """A plaintext channel, or TLS when --tls, --tls-ca or --tls-cert is given
    (the same flags and variables as qatctl's)."""
    if not (args.tls or args.tls_ca or args.tls_cert):
        return grpc.insecure_channel(args.server)
    if bool(args.tls_cert) != bool(args.tls_key):
        sys.exit("sweep: error: --tls-cert and --tls-key go together")

    def read(path):
        with open(path, "rb") as f:
            return f.read()

    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(args.tls_ca) if args.tls_ca else None,
        private_key=read(args.tls_key) if args.tls_key else None,
        certificate_chain=read(args.tls_cert) if args.tls_cert else None)
    options = [("grpc.ssl_target_name_override", args.tls_server_name)] if args.tls_server_name else []
    return grpc.secure_channel(args.server, credentials, options=options)


def build_spec(args, preset):
    spec = job_pb2.JobSpec(experiment=args.experiment, labels={"sweep": args.experiment, "preset": preset})
    spec.model.preset = preset
    spec.data.source = "mnist"
    spec.data.train_limit = args.train_limit
    spec.data.test_limit = args.test_limit
    spec.training.epochs = args.epochs
    spec.qat.epochs = args.qat_epochs
    for bits in args.bits.split(","):
        bits = int(bits)
        spec.configs.add(weight_bits=bits, activation_bits=8)
    return spec


def follow(stub, metadata, job_id, label, deadline, outcome, print_lock):
    """Follows one job's WatchJob stream until it ends; reconnects if the
    stream breaks (a server restart) until `deadline`."""
    state = experiment_pb2.JOB_STATE_UNSPECIFIED
    while time.monotonic() < deadline:
        try:
            for event in stub.WatchJob(experiment_pb2.WatchJobRequest(id=job_id), metadata=metadata,
                                       timeout=max(1.0, deadline - time.monotonic())):
                if event.HasField("progress") and event.progress.variant:
                    p = event.progress
                    with print_lock:
                        print(f"[{label}] {p.variant:<12} epoch {p.epoch}/{p.epochs}  loss {p.loss:.4f}  "
                              f"test {p.test_accuracy:.2f}%", flush=True)
                if event.HasField("job") and event.job.state != state:
                    state = event.job.state
                    with print_lock:
                        print(f"[{label}] {experiment_pb2.JobState.Name(state)}"
                              + (f": {event.job.error}" if event.job.error else ""), flush=True)
            if state in FINAL_STATES:
                break
        except grpc.RpcError as error:
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                outcome[job_id] = f"{error.code().name}: {error.details()}"
                return
        time.sleep(0.5)
    outcome[job_id] = experiment_pb2.JobState.Name(state)


def bits_text(variant):
    if variant.kind == "float":
        return "fp32"
    if variant.layer_weight_bits:
        return "w[" + ",".join(str(b) for b in variant.layer_weight_bits) + f"]a{variant.activation_bits}"
    return f"w{variant.weight_bits}a{variant.activation_bits}"


def print_table(results_by_label):
    headers = ["MODEL", "JOB", "VARIANT", "BITS", "ACCURACY", "INT ACC", "Δ FLOAT", "FLASH", "RAM", "MACS"]
    rows = []
    for label, results in results_by_label:
        variants = results.result.variants
        baseline = next((v for v in variants if v.kind == "float"), None)
        for v in variants:
            exported = v.kind != "float" and (v.integer_accuracy != 0 or v.agreement != 0)
            delta = "-" if baseline is None or v is baseline else f"{v.accuracy - baseline.accuracy:+.2f}"
            rows.append([label, results.job.id, v.name, bits_text(v), f"{v.accuracy:.2f}%",
                         f"{v.integer_accuracy:.2f}%" if exported else "-", delta,
                         f"{v.flash_bytes / 1024:.1f} KB", f"{v.ram_bytes / 1024:.1f} KB", f"{v.macs:,}"])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    left = {0, 1, 2, 3}
    for line in [headers] + rows:
        cells = [c.ljust(widths[i]) if i in left else c.rjust(widths[i]) for i, c in enumerate(line)]
        print("  ".join(cells).rstrip())


def export_variant(stub, metadata, job_id, variant, export_format, directory):
    """Exports one variant with ExportModel; returns the path written.

    The stream carries one or more files; each starts with a chunk naming it
    (with its size and sha256), and the chunks after it carry its bytes.
    Everything is received and checked before anything is written; the files
    go to a temporary name renamed into place, and an existing output is
    refused rather than replaced."""
    files = []  # [name, size, sha256, bytearray]
    request = experiment_pb2.ExportModelRequest(job_id=job_id, variant=variant, format=export_format)
    for chunk in stub.ExportModel(request, metadata=metadata, timeout=120):
        if chunk.file_name:
            files.append([chunk.file_name, chunk.file_size, chunk.sha256, bytearray()])
        elif not files:
            raise ValueError(f"export of {job_id} {variant}: data came before any file's name")
        files[-1][3].extend(chunk.data)
    for name, size, sha256, data in files:
        if len(data) != size or hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError(f"export of {job_id} {variant}: file {name} arrived damaged")
    stem = os.path.join(directory, f"{job_id}-{variant}")
    target = stem + "-c" if export_format == "c" else f"{stem}.{export_format}"
    if os.path.lexists(target):
        raise FileExistsError(f"{target} already exists")
    temporary = os.path.join(directory, f".{os.path.basename(target)}.partial-{os.getpid()}")
    if export_format == "c":
        os.mkdir(temporary)
        for name, _, _, data in files:
            with open(os.path.join(temporary, os.path.basename(name)), "wb") as f:
                f.write(data)
    else:
        with open(temporary, "wb") as f:
            f.write(files[0][3])
    os.rename(temporary, target)
    return target


def main():
    args = parse_args()
    token = read_token(args.token_file)
    metadata = (("authorization", "Bearer " + token),) if token else ()
    channel = open_channel(args)
    stub = experiment_pb2_grpc.ExperimentServiceStub(channel)
    deadline = time.monotonic() + args.timeout

    jobs = []  # (label, job id)
    for preset in [p for p in args.presets.split(",") if p]:
        try:
            response = stub.SubmitJob(
                experiment_pb2.SubmitJobRequest(spec=build_spec(args, preset),
                                                idempotency_key=f"{args.experiment}/{preset}"),
                metadata=metadata, timeout=30)
        except grpc.RpcError as error:
            print(f"sweep: error: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
        print(f"submitted {preset}: {response.job.id}", flush=True)
        jobs.append((preset, response.job.id))

    outcome = {}
    print_lock = threading.Lock()
    threads = [threading.Thread(target=follow, args=(stub, metadata, job_id, label, deadline, outcome, print_lock))
               for label, job_id in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    results_by_label = []
    failed = []
    for label, job_id in jobs:
        results = stub.GetResults(experiment_pb2.GetResultsRequest(id=job_id), metadata=metadata, timeout=30)
        if results.job.state != experiment_pb2.SUCCEEDED:
            failed.append(f"{job_id} ({label}): {experiment_pb2.JobState.Name(results.job.state)} "
                          f"{results.job.error}".rstrip())
        results_by_label.append((label, results))

    print()
    print_table(results_by_label)
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            f.write("[" + ",\n".join(json_format.MessageToJson(r) for _, r in results_by_label) + "]\n")
    if args.export_dir:
        os.makedirs(args.export_dir, exist_ok=True)
        for label, results in results_by_label:
            if results.job.state != experiment_pb2.SUCCEEDED:
                continue
            for variant in results.result.variants:
                if variant.kind == "float":
                    continue
                try:
                    path = export_variant(stub, metadata, results.job.id, variant.name, args.export_format,
                                          args.export_dir)
                    print(f"exported {label} {variant.name}: {path}")
                except (grpc.RpcError, OSError, ValueError) as error:
                    detail = f"{error.code().name}: {error.details()}" if isinstance(error, grpc.RpcError) else error
                    failed.append(f"{results.job.id} ({label}): export of {variant.name} failed: {detail}")
    for line in failed:
        print(f"sweep: job {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
