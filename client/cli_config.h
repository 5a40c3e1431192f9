// qatctl's configuration file and how it combines with flags and the
// environment: for each setting a flag wins, then the environment variable,
// then the file, then the built-in default (docs/cli.md, "Configuration").
//
// The file is JSON:
//   {
//     "server": "qatlab.example.org:50051",
//     "token_file": "~/.config/qatlab/token",     // or "token": "..."
//     "timeout_seconds": 30,
//     "tls": {"enabled": true, "ca": "ca.pem", "cert": "me.pem",
//             "key": "me.key", "server_name": "qatlab"}
//   }
// Relative paths are relative to the file's folder; "~/" is $HOME. It is
// found at --config FILE, else $QATLAB_CONFIG, else
// $XDG_CONFIG_HOME/qatlab/config.json, else ~/.config/qatlab/config.json.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "server_client/server_link.h"
#include "status/status.h"

namespace qatlab {

// Reads an environment variable; null when unset. Tests pass their own.
using EnvironmentLookup = std::function<const char*(const char*)>;
EnvironmentLookup ProcessEnvironment();

// The connection flags as typed (empty: not given).
struct ConnectionFlags {
  std::string config_file;
  std::string server;
  std::string token_file;
  TlsFlags tls;
  std::optional<double> timeout_seconds;
};

struct CliConfig {
  std::string path;  // the file read; empty when there was none
  std::optional<std::string> server;
  std::optional<std::string> token;
  std::optional<std::string> token_file;  // absolute
  std::optional<double> timeout_seconds;
  std::optional<bool> tls;
  std::optional<std::string> tls_ca, tls_cert, tls_key, tls_server_name;  // paths absolute
};

// The file to read and whether it must exist: --config and $QATLAB_CONFIG
// must; the default places need not.
struct ConfigLocation {
  std::string path;  // empty: nowhere to look (no $HOME)
  bool required = false;
};
ConfigLocation FindConfigFile(const std::string& config_flag, const EnvironmentLookup& env);

// Reads the file. A missing file that is not required is an empty config.
// InvalidArgument naming the file and the problem (not JSON, with line and
// column; an unknown key, naming the known ones; a value of the wrong type;
// a token in a file others may read); NotFound for a required file missing.
StatusOr<CliConfig> LoadCliConfig(const ConfigLocation& location, const EnvironmentLookup& env);

// What qatctl connects with, every setting resolved flag > environment >
// file > default. The token file named is read here (ResolveToken).
struct ResolvedConnection {
  std::string address;
  std::string token;
  TlsFlags tls;  // still to be loaded by LoadChannelSecurity (which reads the TLS environment)
  int timeout_ms = 30000;
};
StatusOr<ResolvedConnection> ResolveConnection(const ConnectionFlags& flags, const CliConfig& config,
                                               const EnvironmentLookup& env);

}  // namespace qatlab
