// How qatctl, remote workers and agents reach a qatlab-server: where it is,
// whether the channel is TLS (and with which CA and client certificate), the
// bearer token that proves who is calling, and how a failed call reads in one
// line. Shared by the CLI (client/), `qatlab-worker --server` (worker/) and
// qatlab-agent (device_agent/): the one place channel credentials are made.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include "status/status.h"

namespace qatlab {

// The address used when neither --server nor QATLAB_SERVER says otherwise.
inline constexpr const char* kDefaultServerAddress = "127.0.0.1:50051";

// The server address: `flag_value` when not empty, else $QATLAB_SERVER when
// set and not empty, else kDefaultServerAddress.
std::string ResolveServerAddress(const std::string& flag_value);

// The bearer token: the first token line of `token_file` when a file is
// named, else $QATLAB_TOKEN, else "" (no token; the server decides whether
// that is allowed). A token line is the token alone or "ROLE TOKEN" (the
// server's token-file format; the role is the server's business, only the
// token is sent); blank lines and lines starting with '#' are skipped.
// Fails with IOError when the named file cannot be read, and with
// InvalidArgument when it holds no token.
StatusOr<std::string> ResolveToken(const std::string& token_file);

// TLS as the user asked for it, on every program's command line:
//   --tls              TLS, trusting the system's CA certificates
//   --tls-ca FILE      TLS, trusting the CA certificates in FILE (PEM)
//   --tls-cert FILE    a client certificate (PEM) for servers that require
//   --tls-key FILE     one (mutual TLS), with its private key
//   --tls-server-name NAME  the name the server's certificate must carry,
//                      when it is not the host dialled
// with $QATLAB_TLS_CA, $QATLAB_TLS_CERT, $QATLAB_TLS_KEY and
// $QATLAB_TLS_SERVER_NAME for flags not given ($QATLAB_TLS=1 for --tls).
struct TlsFlags {
  bool tls = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;
};

// The security of a channel, files read: plaintext unless `tls`.
struct ChannelSecurity {
  bool tls = false;
  std::string root_certificates;  // PEM; empty: the system's
  std::string certificate_chain;  // PEM; empty: no client certificate
  std::string private_key;
  std::string server_name;  // empty: the host dialled
};

// Fills flags not given from the environment and reads the files. TLS is on
// when --tls, a CA or a client certificate is given. InvalidArgument naming
// the flag when a file cannot be read or holds no PEM, or when only one of
// --tls-cert/--tls-key is given.
StatusOr<ChannelSecurity> LoadChannelSecurity(TlsFlags flags);

// A channel to `address` (host:port, or unix:PATH), plaintext or TLS.
// Creating it does not connect; the first call does.
std::shared_ptr<grpc::Channel> OpenServerChannel(const std::string& address, const ChannelSecurity& security = {});

// Adds the credentials every call must carry ("authorization: Bearer <token>")
// and, when `timeout_ms` > 0, a deadline. An empty token adds no header.
void PrepareCall(grpc::ClientContext* context, const std::string& token, int timeout_ms);

// "NOT_FOUND", "INVALID_ARGUMENT", ... as gRPC spells its codes.
const char* RpcCodeName(grpc::StatusCode code);

// One line that names what went wrong: "NOT_FOUND: job j-123 not found".
// A failure with an empty message reads as the code alone, and UNAVAILABLE
// says which address could not be reached when `address` is given, and
// whether the TLS handshake failed (a certificate not trusted, or a
// plaintext client at a TLS server).
std::string DescribeRpcError(const grpc::Status& status, const std::string& address = "");

// The same line for a local failure, with the code spelled like gRPC's
// (an I/O error reads "IO_ERROR: ..."), so every error line looks alike.
std::string DescribeStatus(const Status& status);

// True for failures worth retrying after a pause: the server is away,
// restarting, or the call timed out.
bool IsTransientRpcError(const grpc::Status& status);

}  // namespace qatlab
