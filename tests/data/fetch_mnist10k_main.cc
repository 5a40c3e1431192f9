// A process that fills one MNIST-10k cache and exits: 0 when
// EnsureMnist10k(<cache_dir>) succeeds, 1 (with the error on stderr) when it
// fails. mnist_test starts several at once, and kills one mid-fetch.
#include <cstdio>

#include "data/mnist.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <cache_dir>\n", argv[0]);
    return 2;
  }
  qatlab::StatusOr<std::string> directory = qatlab::EnsureMnist10k(argv[1]);
  if (!directory.ok()) {
    std::fprintf(stderr, "%s\n", directory.status().ToString().c_str());
    return 1;
  }
  return 0;
}
