// qatlab-worker: runs training jobs.
//   qatlab-worker run JOB.json [--out DIR] [--data-cache DIR] [--threads N] [--float-checkpoint F]
//   qatlab-worker --server HOST:PORT [--token-file F] [--worker-id ID] [--data-cache DIR]
//                 [--tls | --tls-ca PEM] [--tls-cert PEM --tls-key PEM] [--tls-server-name NAME]
#include <CLI/CLI.hpp>

#include "remote_worker.h"
#include "run_command.h"
#include "server_client/tls_command_line.h"
#include "version/version.h"

int main(int argc, char** argv) {
  CLI::App app{"qatlab worker: trains, quantizes and exports models"};
  app.set_version_flag("--version", qatlab::VersionLine("qatlab-worker"));
  app.require_subcommand(0, 1);

  qatlab::RunCommandOptions run_options;
  CLI::App* run = app.add_subcommand("run", "Run one job file in this process");
  run->add_option("job", run_options.job_path, "Job specification (JSON, qatlab.v1.JobSpec)")->required();
  run->add_option("--out", run_options.out_dir, "Directory for the .qmodel files")->capture_default_str();
  run->add_option("--data-cache", run_options.data_cache_dir, "Data cache directory (default: ~/.cache/qatlab)");
  run->add_option("--threads", run_options.threads, "Training threads, 1 or 2 (results do not depend on it)")
      ->check(CLI::Range(1, 2))
      ->capture_default_str();
  run->add_option("--float-checkpoint", run_options.float_checkpoint_path,
                  "Start from this float model (another run's float.ckpt) instead of training one");

  qatlab::RemoteWorkerOptions remote_options;
  app.add_option("--server", remote_options.server_address, "Take jobs from the qatlab-server at HOST:PORT");
  app.add_option("--token-file", remote_options.token_file,
                 "Bearer token file, a worker token (default: $QATLAB_TOKEN)");
  qatlab::AddTlsFlags(app, &remote_options.tls);
  app.add_option("--worker-id", remote_options.worker_id, "Name reported to the server (default: host-pid)");
  app.add_option("--data-cache", remote_options.data_cache_dir, "Data cache directory (default: ~/.cache/qatlab)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (run->parsed()) return qatlab::RunJobCommand(run_options);
  if (!remote_options.server_address.empty()) return qatlab::RunRemoteWorker(remote_options);
  std::fprintf(stderr, "%s", app.help().c_str());
  return 1;
}
