#!/usr/bin/python3
"""Run a mixed-precision search on a qatlab-server through the API and follow it.

A search (docs/search.md) answers: what are the most accurate per-layer
weight widths for this model within a board's flash, RAM and latency
budgets? The server runs it: one sensitivity job, board measurements of
probe models, an optimiser, and candidates QAT-trained and measured on the
board. This script submits a job file as a search (SubmitSearch) or
re-attaches to one (--id se-...), prints each new progress line as the
server records it (GetSearch), and once the search has SUCCEEDED prints the
verified configurations from its result: widths, flash, predicted and
measured latency, integer accuracy after QAT, bit-exact inputs.

Needs the Python stubs generated at build time and Debian's grpc/protobuf:

    PYTHONPATH=build/python /usr/bin/python3 examples/search_api.py \\
        --server 127.0.0.1:50051 --max-flash 20000 job.json
    PYTHONPATH=build/python /usr/bin/python3 examples/search_api.py --id se-...

Leaving (Ctrl-C, --wait passed) leaves the search running on the server.
Exit status: 0 only when the search SUCCEEDED; 2 for a bad job file or a
request the server refused as invalid; 1 otherwise.
"""

import argparse
import json
import os
import sys
import time

import grpc
from google.protobuf import json_format

from qatlab.v1 import experiment_pb2, experiment_pb2_grpc, job_pb2, resources_pb2

# The token file is read as examples/sweep.py (and qatctl) read it.
from sweep import read_token

RUNNING_STATES = {experiment_pb2.QUEUED, experiment_pb2.RUNNING}
# Failures worth waiting through: the server restarting, a slow reply.
TRANSIENT_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
POLL_SECONDS = 1.0


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job_file", nargs="?", help="the job: qatlab.v1.JobSpec as JSON (model, data, training, seed)")
    parser.add_argument("--id", help="re-attach to search se-... instead of starting one")
    parser.add_argument("--server", default=os.environ.get("QATLAB_SERVER") or "127.0.0.1:50051")
    parser.add_argument("--token-file", help="file holding a client token (default $QATLAB_TOKEN)")
    parser.add_argument("--board", default="mps2-an386", help="board kind the latency is measured on")
    parser.add_argument("--max-flash", type=int, help="flash budget in bytes (.qmodel)")
    parser.add_argument("--max-ram", type=int, help="RAM budget in bytes (activation arena)")
    parser.add_argument("--max-latency", type=float, help="latency budget in milliseconds")
    parser.add_argument("--candidates", type=int, default=8, help="configurations QAT-trained and measured")
    parser.add_argument("--rank-by", choices=["hawq", "ptq"],
                        help="what the optimiser ranks by (default: the server's, hawq)")
    parser.add_argument("--time-limit", type=int, metavar="SECONDS",
                        help="the search's time limit on the server (default: none)")
    parser.add_argument("--wait", type=float, default=24 * 3600,
                        help="seconds to follow the search (it goes on on the server after)")
    parser.add_argument("--json-out", help="write the search's result document (result_json) here")
    args = parser.parse_args()
    if (args.id is None) == (args.job_file is None):
        parser.error("give a job file to start a search, or --id SE to re-attach to one (not both)")
    return args


def submit_request(args):
    """The SubmitSearchRequest for the job file and the flags."""
    with open(args.job_file, encoding="utf-8") as f:
        spec = json_format.Parse(f.read(), job_pb2.JobSpec())
    budgets = resources_pb2.SearchBudgets()
    if args.max_flash is not None:
        budgets.max_flash_bytes = args.max_flash
    if args.max_ram is not None:
        budgets.max_ram_bytes = args.max_ram
    if args.max_latency is not None:
        budgets.max_latency_ms = args.max_latency
    request = experiment_pb2.SubmitSearchRequest(spec=spec, board_kind=args.board, budgets=budgets,
                                                 candidates=args.candidates)
    if args.rank_by is not None:
        request.rank_by = resources_pb2.Search.RankBy.Value("RANK_BY_" + args.rank_by.upper())
    if args.time_limit is not None:
        request.timeout_seconds = args.time_limit
    return request


def rpc_error(what, error):
    print("search_api: error: %s: %s: %s" % (what, error.code().name, error.details()), file=sys.stderr)
    return 2 if error.code() == grpc.StatusCode.INVALID_ARGUMENT else 1


def follow(stub, metadata, search_id, wait_seconds):
    """Polls the search until it is final, printing each progress line once;
    returns the final Search, or None when wait_seconds passed first."""
    deadline = time.monotonic() + wait_seconds
    printed = 0
    while True:
        try:
            search = stub.GetSearch(experiment_pb2.GetSearchRequest(id=search_id), metadata=metadata, timeout=30)
            for line in search.log[printed:]:
                print("search: %s" % line, flush=True)
            printed = len(search.log)
            if search.state not in RUNNING_STATES:
                return search
        except grpc.RpcError as error:
            if error.code() not in TRANSIENT_CODES:
                raise
        if time.monotonic() > deadline:
            return None
        time.sleep(POLL_SECONDS)


def bits_text(bits):
    return ",".join(str(b) for b in bits)


def print_result(result):
    """One line per verified configuration: the uniform ones and the candidates."""
    print("search %s: %d weighted layers on %s (%s%s); ranked by %s" % (
        result["search"], result["weightedLayers"], result["board"], result.get("timingModel", ""),
        ", emulated" if result.get("emulated") else "", result.get("rankBy", "ptq")))
    print("%-10s %-24s %10s %10s %10s %8s %9s %11s %s" % ("CONFIG", "WIDTHS", "FLASH", "PRED MS", "MEAS MS",
                                                          "LAT ERR", "QAT ACC", "BIT-EXACT", "FRONT"))
    for v in result["verified"]:
        measured = v["measured"]
        ok = "measurementError" not in v
        print("%-10s %-24s %10d %10.3f %10s %8s %8.2f%% %11s %s" % (
            v["config"], bits_text(v["predicted"]["bits"]), measured["flashBytes"], v["predicted"]["latencyMs"],
            "%.3f" % measured["latencyMs"] if ok else "failed",
            "%+.2f%%" % v["latencyErrorPercent"] if ok else "-",
            measured["integerAccuracy"],
            "%d/%d" % (measured["bitExactInputs"], measured["checkedInputs"]) if ok else "-",
            "*" if v["onMeasuredFront"] else ""))
    for v in result["verified"]:
        if v["uniform"]:
            by = v.get("dominatedBy", "")
            print("%s: %s" % (v["config"], "matched or beaten by " + by if by else
                              "no candidate is at least as accurate with no more flash and latency"))


def main():
    args = parse_args()
    token = read_token(args.token_file)
    metadata = (("authorization", "Bearer " + token),) if token else ()
    stub = experiment_pb2_grpc.ExperimentServiceStub(grpc.insecure_channel(args.server))

    search_id = args.id
    if search_id is None:
        try:
            request = submit_request(args)
        except (OSError, ValueError, json_format.ParseError) as error:
            print("search_api: error: %s: %s" % (args.job_file, error), file=sys.stderr)
            return 2
        try:
            submitted = stub.SubmitSearch(request, metadata=metadata, timeout=60)
        except grpc.RpcError as error:
            return rpc_error("SubmitSearch", error)
        search_id = submitted.id
        print("search %s submitted (%d weighted layers); --id %s re-attaches" % (
            search_id, submitted.weighted_layers, search_id), flush=True)

    try:
        search = follow(stub, metadata, search_id, args.wait)
    except grpc.RpcError as error:
        return rpc_error("GetSearch " + search_id, error)
    if search is None:
        print("search_api: error: search %s did not finish within --wait %.0f s; it goes on on the server: "
              "--id %s re-attaches" % (search_id, args.wait, search_id), file=sys.stderr)
        return 1
    if search.state != experiment_pb2.SUCCEEDED:
        state = experiment_pb2.JobState.Name(search.state)
        print("search_api: error: search %s %s%s" % (search_id, state, (": " + search.error) if search.error else ""),
              file=sys.stderr)
        return 1

    print_result(json.loads(search.result_json))
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            f.write(search.result_json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
