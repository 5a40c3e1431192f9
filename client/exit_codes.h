// The exit status of qatctl (README, "Exit codes"): scripts may tell a
// mistake in the command line from a failure, and a server that cannot be
// reached or refuses the caller from any other failure.
#pragma once

#include <grpcpp/support/status.h>

namespace qatlab {

inline constexpr int kExitOk = 0;
// Anything that failed at run time: a request refused (NOT_FOUND,
// INVALID_ARGUMENT, ...), a file that cannot be written, a watched job that
// ended FAILED or CANCELLED.
inline constexpr int kExitFailure = 1;
// The command line itself is wrong: an unknown command or flag, a missing
// or bad argument, a bad configuration file. Nothing was sent.
inline constexpr int kExitUsage = 2;
// The server could not be reached or did not answer in time (UNAVAILABLE,
// DEADLINE_EXCEEDED): worth retrying.
inline constexpr int kExitUnavailable = 3;
// The server refused who is calling (UNAUTHENTICATED, PERMISSION_DENIED).
inline constexpr int kExitDenied = 4;

inline int ExitCodeForRpc(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return kExitOk;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED: return kExitUnavailable;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED: return kExitDenied;
    default: return kExitFailure;
  }
}

}  // namespace qatlab
