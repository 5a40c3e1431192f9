// The artifact name under which a worker stores its log of one attempt of a
// job (worker/job_log.h), which `qatctl logs` downloads: one definition for
// both sides.
#pragma once

#include <string>

namespace qatlab {

// "worker-attempt-<attempt>.log"
inline std::string WorkerLogArtifactName(int attempt) { return "worker-attempt-" + std::to_string(attempt) + ".log"; }

}  // namespace qatlab
