// The TLS flags of every program that connects to qatlab-server (qatctl,
// qatlab-worker, qatlab-agent), spelt the same everywhere; see TlsFlags in
// server_link.h for what each means and the environment variables behind
// them. Header only: the programs link CLI11, the library does not.
#pragma once

#include <CLI/CLI.hpp>

#include "server_client/server_link.h"

namespace qatlab {

inline void AddTlsFlags(CLI::App& app, TlsFlags* flags) {
  app.add_flag("--tls", flags->tls, "connect with TLS, trusting the system's CA certificates ($QATLAB_TLS=1)");
  app.add_option("--tls-ca", flags->ca_file, "connect with TLS, trusting the CA certificates in FILE ($QATLAB_TLS_CA)");
  app.add_option("--tls-cert", flags->cert_file, "client certificate for mutual TLS, PEM ($QATLAB_TLS_CERT)");
  app.add_option("--tls-key", flags->key_file, "private key of --tls-cert, PEM ($QATLAB_TLS_KEY)");
  app.add_option("--tls-server-name", flags->server_name,
                 "name the server's certificate must carry, when not the host dialled ($QATLAB_TLS_SERVER_NAME)");
}

}  // namespace qatlab
