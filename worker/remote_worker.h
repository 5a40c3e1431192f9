// `qatlab-worker --server HOST:PORT`: a worker that takes training jobs from a
// qatlab-server, one at a time, and runs them with the engine.
//
// A thin loop over the shared lease client (server_client/lease_client.h,
// lease_keeper.h). The life of one job:
//   LeaseJob (long poll)  ->  fetch `dataset:<name>` inputs and a
//      `model:<name>` ONNX model into the cache
//   -> RunExperiment, with a heartbeat thread that reports every finished
//      epoch at once and otherwise beats every heartbeat_interval_ms, as the
//      server chose it (at most a second, so a cancel is heard within a
//      second, and a fraction of the lease, so a long epoch keeps it)
//   -> UploadArtifact for each .qmodel (sha256 checked by the server)
//   -> CompleteJob with the JobResult.
// A heartbeat answered `cancelled` or `lease_lost` makes the progress callback
// stop the engine (within one batch); such a job is neither completed nor
// failed: the server already decided its fate. An engine error fails the job
// (FailJob retryable=false; the server's attempt limit decides on retries).
//
// SIGTERM or SIGINT: a running job is stopped and given back (FailJob
// retryable=true, the attempt is not counted), then the worker exits 0. When
// the engine does not stop within a few seconds the job is given back anyway
// and the process exits without waiting for it.
//
// A server that is away (restart, network) is retried with exponential
// back-off up to a few seconds; the worker never gives up on its own.
#pragma once

#include <string>

#include "server_client/server_link.h"

namespace qatlab {

struct RemoteWorkerOptions {
  std::string server_address;  // host:port
  std::string token_file;      // empty: $QATLAB_TOKEN, else no token (a worker token)
  TlsFlags tls;                // server_client/server_link.h
  std::string worker_id;       // empty: "<hostname>-<pid>"
  // The data cache: MNIST-10k lives in <dir>/mnist10k, fetched data sets in
  // <dir>/datasets/<sha256>, fetched models in <dir>/models/<sha256>. Empty: the engine's DefaultDataCacheDir().
  std::string data_cache_dir;
  int lease_wait_ms = 10000;  // long-poll length of one LeaseJob
  int threads = 2;            // engine threads (1 or 2)
};

// Runs until SIGTERM or SIGINT and returns the process exit status: 0 after a
// signal, 1 when the worker cannot run at all (unreadable token file, the
// server refusing the token). Hears the signals through a StopSignal
// (process/stop_signal.h). REQUIRES: called once per process.
int RunRemoteWorker(const RemoteWorkerOptions& options);

}  // namespace qatlab
