#include "client/cli_config.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace qatlab {
namespace {

constexpr const char* kKnownKeys = "server, token, token_file, timeout_seconds, tls";
constexpr const char* kKnownTlsKeys = "enabled, ca, cert, key, server_name";

bool IsSet(const EnvironmentLookup& env, const char* name) {
  const char* value = env(name);
  return value != nullptr && *value != '\0';
}

// "~/x" under $HOME; a relative path under the config file's folder.
std::string ResolvePath(const std::string& path, const std::string& config_path, const EnvironmentLookup& env) {
  if (path.rfind("~/", 0) == 0 && IsSet(env, "HOME")) return std::string(env("HOME")) + path.substr(1);
  std::filesystem::path value(path);
  if (value.is_absolute()) return path;
  return (std::filesystem::path(config_path).parent_path() / value).lexically_normal().string();
}

}  // namespace

EnvironmentLookup ProcessEnvironment() {
  return [](const char* name) -> const char* { return std::getenv(name); };
}

ConfigLocation FindConfigFile(const std::string& config_flag, const EnvironmentLookup& env) {
  if (!config_flag.empty()) return {config_flag, true};
  if (IsSet(env, "QATLAB_CONFIG")) return {env("QATLAB_CONFIG"), true};
  if (IsSet(env, "XDG_CONFIG_HOME")) return {std::string(env("XDG_CONFIG_HOME")) + "/qatlab/config.json", false};
  if (IsSet(env, "HOME")) return {std::string(env("HOME")) + "/.config/qatlab/config.json", false};
  return {"", false};
}

StatusOr<CliConfig> LoadCliConfig(const ConfigLocation& location, const EnvironmentLookup& env) {
  CliConfig config;
  if (location.path.empty()) return config;
  std::ifstream in(location.path);
  if (!in) {
    std::error_code error;
    if (!std::filesystem::exists(location.path, error)) {
      if (!location.required) return config;
      return Status::NotFound(fmt::format("config file {}: no such file", location.path));
    }
    return Status::IOError(fmt::format("config file {}: cannot be read", location.path));
  }
  std::stringstream text;
  text << in.rdbuf();
  const std::string& path = location.path;
  auto invalid = [&path](const std::string& problem) {
    return Status::InvalidArgument(fmt::format("config file {}: {}", path, problem));
  };
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const nlohmann::json::parse_error& error) {
    // "[json.exception.parse_error.101] parse error at line 3, column 5: ..."
    std::string what = error.what();
    size_t at = what.find("parse error");
    return invalid("not valid JSON: " + (at == std::string::npos ? what : what.substr(at)));
  }
  if (!document.is_object()) return invalid("must hold one JSON object, {\"server\": ..., ...}");
  config.path = path;

  auto string_of = [&](const nlohmann::json& value, const std::string& key) -> StatusOr<std::string> {
    if (!value.is_string() || value.get<std::string>().empty()) {
      return invalid(fmt::format("\"{}\" must be a non-empty string, not {}", key, value.dump()));
    }
    return value.get<std::string>();
  };
  for (const auto& [key, value] : document.items()) {
    if (key == "server") {
      QATLAB_ASSIGN_OR_RETURN(config.server, string_of(value, key));
    } else if (key == "token") {
      QATLAB_ASSIGN_OR_RETURN(config.token, string_of(value, key));
    } else if (key == "token_file") {
      QATLAB_ASSIGN_OR_RETURN(std::string file, string_of(value, key));
      config.token_file = ResolvePath(file, path, env);
    } else if (key == "timeout_seconds") {
      if (!value.is_number() || value.get<double>() <= 0) {
        return invalid(fmt::format("\"timeout_seconds\" must be a positive number, not {}", value.dump()));
      }
      config.timeout_seconds = value.get<double>();
    } else if (key == "tls") {
      if (!value.is_object()) return invalid(fmt::format("\"tls\" must be an object ({})", kKnownTlsKeys));
      for (const auto& [tls_key, tls_value] : value.items()) {
        const std::string name = "tls." + tls_key;
        if (tls_key == "enabled") {
          if (!tls_value.is_boolean()) return invalid(fmt::format("\"{}\" must be true or false", name));
          config.tls = tls_value.get<bool>();
          continue;
        }
        std::optional<std::string>* target = tls_key == "ca"            ? &config.tls_ca
                                             : tls_key == "cert"        ? &config.tls_cert
                                             : tls_key == "key"         ? &config.tls_key
                                             : tls_key == "server_name" ? &config.tls_server_name
                                                                        : nullptr;
        if (target == nullptr) {
          return invalid(fmt::format("unknown key \"{}\" (known in \"tls\": {})", name, kKnownTlsKeys));
        }
        QATLAB_ASSIGN_OR_RETURN(std::string text_value, string_of(tls_value, name));
        *target = tls_key == "server_name" ? text_value : ResolvePath(text_value, path, env);
      }
    } else {
      return invalid(fmt::format("unknown key \"{}\" (known: {})", key, kKnownKeys));
    }
  }
  // A token is a password: like ssh with a private key, refuse a file that
  // others may read rather than use a secret that is not one.
  struct stat info {};
  if (config.token.has_value() && ::stat(path.c_str(), &info) == 0 && (info.st_mode & 077) != 0) {
    return invalid(
        fmt::format("holds a token but others may read it (mode {:03o}); chmod 600 {}", info.st_mode & 0777, path));
  }
  return config;
}

StatusOr<ResolvedConnection> ResolveConnection(const ConnectionFlags& flags, const CliConfig& config,
                                               const EnvironmentLookup& env) {
  ResolvedConnection resolved;
  if (!flags.server.empty()) {
    resolved.address = flags.server;
  } else if (IsSet(env, "QATLAB_SERVER")) {
    resolved.address = env("QATLAB_SERVER");
  } else {
    resolved.address = config.server.value_or(kDefaultServerAddress);
  }

  if (!flags.token_file.empty() || IsSet(env, "QATLAB_TOKEN")) {
    // ResolveToken reads the file named, else $QATLAB_TOKEN.
    QATLAB_ASSIGN_OR_RETURN(resolved.token, ResolveToken(flags.token_file));
  } else if (config.token.has_value()) {
    resolved.token = *config.token;
  } else if (config.token_file.has_value()) {
    StatusOr<std::string> token = ResolveToken(*config.token_file);
    if (!token.ok()) return token.status().WithContext(fmt::format("config file {}: token_file", config.path));
    resolved.token = *token;
  }

  // TLS: what a flag leaves empty and its variable does not set comes from
  // the file; LoadChannelSecurity reads the variables afterwards.
  resolved.tls = flags.tls;
  auto fill = [&](std::string* field, const char* variable, const std::optional<std::string>& from_file) {
    if (field->empty() && !IsSet(env, variable) && from_file.has_value()) *field = *from_file;
  };
  fill(&resolved.tls.ca_file, "QATLAB_TLS_CA", config.tls_ca);
  fill(&resolved.tls.cert_file, "QATLAB_TLS_CERT", config.tls_cert);
  fill(&resolved.tls.key_file, "QATLAB_TLS_KEY", config.tls_key);
  fill(&resolved.tls.server_name, "QATLAB_TLS_SERVER_NAME", config.tls_server_name);
  if (!resolved.tls.tls && !IsSet(env, "QATLAB_TLS") && config.tls.has_value()) resolved.tls.tls = *config.tls;

  double timeout = flags.timeout_seconds.value_or(config.timeout_seconds.value_or(30.0));
  resolved.timeout_ms = static_cast<int>(timeout * 1000);
  return resolved;
}

}  // namespace qatlab
