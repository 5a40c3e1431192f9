// What the server tests share beyond tests/support: small JobSpecs, and a
// job submitted and followed to its end over the real API.
#pragma once

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "qatlab/v1/experiment.grpc.pb.h"
#include "qatlab/v1/job.pb.h"
#include "qatlab/v1/worker.grpc.pb.h"
#include "server/store/job_notifier.h"
#include "tests/support/wait_until.h"

namespace qatlab::server::testing {

// The request that registers an emulated Cortex-M4 board at 25 MHz, as an
// agent would: the board the measurement and search tests need.
inline v1::RegisterDeviceRequest EmulatedBoard(const std::string& name, const std::string& kind) {
  v1::RegisterDeviceRequest request;
  request.mutable_device()->set_name(name);
  request.mutable_device()->set_board_kind(kind);
  request.mutable_device()->set_core("cortex-m4");
  request.mutable_device()->set_clock_hz(25'000'000);
  request.mutable_device()->set_emulated(true);
  return request;
}

// A valid small search: the cnn preset, 1 float epoch, on an mps2-an386 board.
inline v1::SubmitSearchRequest SmallSearchRequest(const std::string& experiment, int candidates) {
  v1::SubmitSearchRequest request;
  request.mutable_spec()->set_experiment(experiment);
  request.mutable_spec()->mutable_model()->set_preset("cnn");
  request.mutable_spec()->mutable_training()->set_epochs(1);
  request.set_board_kind("mps2-an386");
  request.set_candidates(candidates);
  return request;
}

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

// grpc.health.v1.Health/Check for `service` ("" for the whole server),
// through the generic stub (no generated health classes): the status and the
// serialized HealthCheckResponse.
inline std::pair<grpc::Status, std::string> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                                        const std::string& service) {
  grpc::GenericStub generic(channel);
  // HealthCheckRequest{service} is field 1, a string.
  std::string request_bytes;
  if (!service.empty()) {
    request_bytes.push_back('\x0a');
    request_bytes.push_back(static_cast<char>(service.size()));
    request_bytes += service;
  }
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(5000));
  // A completion queue, not the callback API: the answer is read on this
  // thread, so nothing outlives the call and ThreadSanitizer sees no hand-over
  // through gRPC's (uninstrumented) threads.
  grpc::CompletionQueue queue;
  auto call = generic.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", request, &queue);
  grpc::Status status(grpc::StatusCode::DEADLINE_EXCEEDED, "no answer in 5 s");
  call->StartCall();
  int tag = 0;
  call->Finish(&response, &status, &tag);
  void* got = nullptr;
  bool ok = false;
  // The context's deadline ends the call, so Finish's event always comes.
  (void)queue.AsyncNext(&got, &ok, std::chrono::system_clock::now() + std::chrono::milliseconds(10000));
  queue.Shutdown();
  while (queue.Next(&got, &ok)) {
  }
  std::string bytes;
  std::vector<grpc::Slice> slices;
  if (status.ok() && response.Dump(&slices).ok()) {
    for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return {status, bytes};
}

// HealthCheckResponse{status: SERVING(1)} and {status: NOT_SERVING(2)},
// as CheckHealth returns them.
inline const std::string kHealthServing("\x08\x01", 2);
inline const std::string kHealthNotServing("\x08\x02", 2);

}  // namespace qatlab::server::testing
