// The data set loaders (data/dataset.h): IDX, NPY and CSV files from users.
// Every input must end in a Dataset consistent with what the file holds, or
// a Status; never a crash or a read past the file.
//
// Input: byte 0 picks the loader (0 IDX, 1 NPY, 2 CSV; modulo 3), byte 1 the
// sample limit (0 = all). IDX and NPY: a little-endian uint32 length L, then
// L bytes of the images file, then the labels file. CSV: three bytes of
// height, width, channels (all 0: inferred), then the file.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "data/dataset.h"

namespace {

// One directory for the process; each input overwrites the same files.
const std::string& Directory() {
  static const std::string directory = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/qatlab-fuzz-dataset-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    return pattern;
  }();
  return directory;
}

void WriteFile(const std::string& path, const uint8_t* data, size_t size) {
  FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, file) != size) std::abort();
  std::fclose(file);
}

void CheckConsistent(const qatlab::Dataset& set) {
  const size_t values = static_cast<size_t>(set.size()) * static_cast<size_t>(set.sample_size());
  if (set.has_pixels() ? set.pixels.size() != values : set.float_pixels.size() != values) std::abort();
  for (int32_t label : set.labels) {
    if (label < 0 || label >= set.num_classes) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace qatlab;
  if (size < 2 || size > (1u << 20)) return 0;
  const int format = data[0] % 3;
  const int limit = data[1];
  data += 2;
  size -= 2;
  const std::string images = Directory() + "/images";
  const std::string labels = Directory() + "/labels";
  StatusOr<Dataset> loaded = Status::InvalidArgument("not loaded");
  if (format == 2) {
    if (size < 3) return 0;
    WriteFile(images, data + 3, size - 3);
    loaded = LoadCsv(images, data[0], data[1], data[2], limit);
  } else {
    if (size < 4) return 0;
    uint32_t images_size = 0;
    std::memcpy(&images_size, data, sizeof images_size);
    data += 4;
    size -= 4;
    if (images_size > size) images_size = static_cast<uint32_t>(size);
    WriteFile(images, data, images_size);
    WriteFile(labels, data + images_size, size - images_size);
    loaded = format == 0 ? LoadIdx(images, labels, limit) : LoadNpy(images, labels, limit);
  }
  if (loaded.ok()) CheckConsistent(*loaded);
  return 0;
}
