#include "server_client/server_link.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "status/printable_value.h"

namespace qatlab {
namespace {

std::string Trim(const std::string& text) {
  const char* space = " \t\r\n";
  size_t begin = text.find_first_not_of(space);
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(space);
  return text.substr(begin, end - begin + 1);
}

void FromEnvironment(std::string* value, const char* name) {
  if (!value->empty()) return;
  if (const char* env = std::getenv(name); env != nullptr) *value = env;
}

StatusOr<std::string> ReadPem(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(std::string(flag) + " " + PrintableValue(path) + ": cannot be read");
  std::ostringstream contents;
  contents << in.rdbuf();
  if (contents.str().find("-----BEGIN ") == std::string::npos) {
    return Status::InvalidArgument(std::string(flag) + " " + PrintableValue(path) + ": not a PEM file");
  }
  return contents.str();
}

// gRPC reports a failed handshake as UNAVAILABLE, in words about sockets and
// SSL internals; say what to check.
std::string TlsHint(const std::string& message) {
  auto has = [&](const char* word) { return message.find(word) != std::string::npos; };
  if (has("CERTIFICATE_VERIFY_FAILED") || has("certificate verify failed") || has("Handshake failed") ||
      has("handshake failed") || has("SSL_ERROR")) {
    return "; the TLS handshake failed: is the server's certificate signed by the CA given with --tls-ca "
           "($QATLAB_TLS_CA), and does it name the host dialled (else --tls-server-name)? Is the server serving TLS?";
  }
  // A plaintext client at a TLS port sees the server hang up on its first
  // bytes (a refused connection is a server that is not there at all).
  if (has("Socket closed") || has("Connection reset") || has("End of TCP stream") || has("Broken pipe")) {
    return "; if the server serves TLS (--tls-cert), connect with --tls-ca FILE or --tls";
  }
  return "";
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
  if (!in) return Status::IOError("cannot read token file " + PrintableValue(token_file));
  std::string line;
  while (std::getline(in, line)) {
    line = Trim(line);
    if (line.empty() || line.front() == '#') continue;
    // "ROLE TOKEN": the token is the last field.
    size_t space = line.find_last_of(" \t");
    return space == std::string::npos ? line : line.substr(space + 1);
  }
  return Status::InvalidArgument("token file " + PrintableValue(token_file) + " is empty");
}

StatusOr<ChannelSecurity> LoadChannelSecurity(TlsFlags flags) {
  FromEnvironment(&flags.ca_file, "QATLAB_TLS_CA");
  FromEnvironment(&flags.cert_file, "QATLAB_TLS_CERT");
  FromEnvironment(&flags.key_file, "QATLAB_TLS_KEY");
  FromEnvironment(&flags.server_name, "QATLAB_TLS_SERVER_NAME");
  if (const char* env = std::getenv("QATLAB_TLS"); env != nullptr && std::string(env) == "1") flags.tls = true;
  if (flags.cert_file.empty() != flags.key_file.empty()) {
    return Status::InvalidArgument("--tls-cert and --tls-key go together: a client certificate needs its key");
  }
  ChannelSecurity security;
  security.tls = flags.tls || !flags.ca_file.empty() || !flags.cert_file.empty();
  if (!security.tls) return security;
  if (!flags.ca_file.empty()) {
    QATLAB_ASSIGN_OR_RETURN(security.root_certificates, ReadPem(flags.ca_file, "--tls-ca"));
  }
  if (!flags.cert_file.empty()) {
    QATLAB_ASSIGN_OR_RETURN(security.certificate_chain, ReadPem(flags.cert_file, "--tls-cert"));
    QATLAB_ASSIGN_OR_RETURN(security.private_key, ReadPem(flags.key_file, "--tls-key"));
  }
  security.server_name = flags.server_name;
  return security;
}

std::shared_ptr<grpc::Channel> OpenServerChannel(const std::string& address, const ChannelSecurity& security) {
  grpc::ChannelArguments arguments;
  // Artifacts and data sets travel in chunks well below this, but a JobResult
  // with long histories can be large; do not let the default 4 MB bite.
  arguments.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  // Reconnect quickly after a server restart instead of gRPC's default
  // back-off, which grows to two minutes.
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  arguments.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  if (!security.tls) return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), arguments);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = security.root_certificates;
  ssl.pem_cert_chain = security.certificate_chain;
  ssl.pem_private_key = security.private_key;
  if (!security.server_name.empty()) arguments.SetSslTargetNameOverride(security.server_name);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), arguments);
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
    message = "cannot reach qatlab-server at " + address + (message.empty() ? "" : " (" + message + ")") +
              TlsHint(status.error_message());
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
    case StatusCode::kPermissionDenied: code = "PERMISSION_DENIED"; break;
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
