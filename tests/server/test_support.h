// What the server tests share beyond tests/support: small JobSpecs, and a
// job submitted and followed to its end over the real API.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "qatlab/v1/experiment.grpc.pb.h"
#include "qatlab/v1/job.pb.h"
#include "server/store/job_notifier.h"
#include "tests/support/wait_until.h"

namespace qatlab::server::testing {

// A valid small job: the cnn preset, one w8a8 config.
inline v1::JobSpec SmallSpec(const std::string& experiment = "test", int priority = 0) {
  v1::JobSpec spec;
  spec.set_experiment(experiment);
  spec.mutable_model()->set_preset("cnn");
  spec.mutable_training()->set_epochs(1);
  spec.set_priority(priority);
  spec.set_max_attempts(3);
  return spec;
}

// Submits `spec` and waits up to `timeout` for the job to end (SUCCEEDED,
// FAILED or CANCELLED): the job as it ended. A refused submission or a job
// still running at the timeout fails the test, with `server_log()` printed,
// and gives nullopt.
inline std::optional<v1::Job> SubmitAndWaitForEnd(v1::ExperimentService::Stub& experiments, const v1::JobSpec& spec,
                                                  std::chrono::milliseconds timeout,
                                                  const std::function<std::string()>& server_log) {
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  v1::SubmitJobResponse submitted;
  grpc::ClientContext submit_context;
  const grpc::Status status = experiments.SubmitJob(&submit_context, request, &submitted);
  if (!status.ok()) {
    ADD_FAILURE() << "the submission was refused: " << status.error_message();
    return std::nullopt;
  }
  v1::Job job;
  const bool ended = test_support::WaitUntil(
      [&] {
        grpc::ClientContext context;
        v1::GetJobRequest get;
        get.set_id(submitted.job().id());
        return experiments.GetJob(&context, get, &job).ok() && IsTerminal(job.state());
      },
      timeout, "the job to end");
  if (!ended) {
    ADD_FAILURE() << server_log();
    return std::nullopt;
  }
  return job;
}

}  // namespace qatlab::server::testing
