#include "server_client/server_link.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

namespace qatlab {
namespace {

std::string Trim(const std::string& text) {
  const char* space = " \t\r\n";
  size_t begin = text.find_first_not_of(space);
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(space);
  return text.substr(begin, end - begin + 1);
}

}  // namespace

std::string ResolveServerAddress(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  const char* env = std::getenv("QATLAB_SERVER");
  if (env != nullptr && *env != '\0') return env;
  return kDefaultServerAddress;
}

StatusOr<std::string> ResolveToken(const std::string& token_file) {
  if (token_file.empty()) {
    const char* env = std::getenv("QATLAB_TOKEN");
    return std::string(env != nullptr ? Trim(env) : "");
  }
  std::ifstream in(token_file);
  if (!in) return Status::IOError("cannot read token file " + token_file);
  std::string first_line;
  std::getline(in, first_line);
  std::string token = Trim(first_line);
  if (token.empty()) return Status::InvalidArgument("token file " + token_file + " is empty");
  return token;
}

std::shared_ptr<grpc::Channel> OpenServerChannel(const std::string& address) {
  grpc::ChannelArguments arguments;
  // Artifacts and data sets travel in chunks well below this, but a JobResult
  // with long histories can be large; do not let the default 4 MB bite.
  arguments.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  // Reconnect quickly after a server restart instead of gRPC's default
  // back-off, which grows to two minutes.
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  arguments.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), arguments);
}

void PrepareCall(grpc::ClientContext* context, const std::string& token, int timeout_ms) {
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  if (timeout_ms > 0) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  }
}

const char* RpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

std::string DescribeRpcError(const grpc::Status& status, const std::string& address) {
  std::string line = RpcCodeName(status.error_code());
  std::string message = status.error_message();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE && !address.empty()) {
    // gRPC's own text ("failed to connect to all addresses; ...") is long and
    // names internals; what the user needs is which server was not there.
    message = "cannot reach qatlab-server at " + address + (message.empty() ? "" : " (" + message + ")");
  }
  if (!message.empty()) line += ": " + message;
  return line;
}

std::string DescribeStatus(const Status& status) {
  const char* code = "OK";
  switch (status.code()) {
    case StatusCode::kOk: code = "OK"; break;
    case StatusCode::kInvalidArgument: code = "INVALID_ARGUMENT"; break;
    case StatusCode::kNotFound: code = "NOT_FOUND"; break;
    case StatusCode::kAlreadyExists: code = "ALREADY_EXISTS"; break;
    case StatusCode::kFailedPrecondition: code = "FAILED_PRECONDITION"; break;
    case StatusCode::kCorruption: code = "DATA_LOSS"; break;
    case StatusCode::kIOError: code = "IO_ERROR"; break;
    case StatusCode::kUnavailable: code = "UNAVAILABLE"; break;
    case StatusCode::kCancelled: code = "CANCELLED"; break;
    case StatusCode::kResourceExhausted: code = "RESOURCE_EXHAUSTED"; break;
    case StatusCode::kUnauthenticated: code = "UNAUTHENTICATED"; break;
    case StatusCode::kInternal: code = "INTERNAL"; break;
  }
  if (status.ok()) return code;
  return std::string(code) + ": " + status.message();
}

bool IsTransientRpcError(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return true;
    default: return false;
  }
}

}  // namespace qatlab
