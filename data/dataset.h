// Labelled image data sets and the loaders for the formats users bring:
// IDX (the MNIST format), NPY (numpy.save) and CSV. The built-in MNIST-10k
// set is produced as IDX files by data/mnist.h; Fashion-MNIST is read from
// its Debian package (data/fashion_mnist.h).
//
// Every loader reads untrusted files: a malformed, truncated or inconsistent
// file yields a Status whose message names the file and what is wrong; no
// loader crashes or reads past what the file holds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "status/status.h"

namespace qatlab {
namespace v1 {
class DataSpec;
}  // namespace v1

// N labelled images of height x width x channels, stored sample after sample,
// each in HWC order (channel fastest).
//
// The pixels are held once, as the source stores them: bytes 0..255 in
// `pixels` (IDX, CSV, NPY '|u1'), or floats in [0, 1] in `float_pixels` (NPY
// '<f4'); the other vector is empty. Training reads floats, converted one
// batch at a time by ImageAsFloats / ImagesAsFloats (a byte b becomes
// b / 255.0f), so an 8-bit set costs one byte per value in memory, not the
// four a float copy would (60,000 Fashion-MNIST images: 47 MB, not 188 MB).
// An integer model is fed the exact bytes the set holds (pixel_image).
struct Dataset {
  int height = 0;
  int width = 0;
  int channels = 0;
  // Labels are in [0, num_classes).
  int num_classes = 0;
  std::vector<uint8_t> pixels;      // size() * sample_size() bytes, or empty
  std::vector<float> float_pixels;  // size() * sample_size() values in [0, 1], or empty
  std::vector<int32_t> labels;      // size() values

  int size() const { return static_cast<int>(labels.size()); }
  // Values per image: height * width * channels.
  int sample_size() const { return height * width * channels; }
  // True when the source was 8-bit (the pixels are in `pixels`).
  bool has_pixels() const { return !pixels.empty(); }

  // REQUIRES: has_pixels() and 0 <= i < size()
  const uint8_t* pixel_image(int i) const { return pixels.data() + static_cast<size_t>(i) * sample_size(); }
  // REQUIRES: !has_pixels() and 0 <= i < size()
  const float* float_image(int i) const { return float_pixels.data() + static_cast<size_t>(i) * sample_size(); }

  // Writes image i as sample_size() floats in [0, 1] to out: b / 255.0f for
  // each byte b of an 8-bit set, the stored values of a float set.
  // REQUIRES: 0 <= i < size(); out holds sample_size() floats
  void ImageAsFloats(int i, float* out) const;
  // Images begin .. begin + n - 1, one after the other, as ImageAsFloats.
  // REQUIRES: 0 <= begin, begin + n <= size(); out holds n * sample_size() floats
  void ImagesAsFloats(int begin, int n, float* out) const;

  // Bytes the pixels and labels hold in memory (capacity, not size).
  size_t memory_bytes() const;

  // Keeps only the first n samples (no-op when n >= size()) and returns the
  // memory of the others.
  // REQUIRES: n >= 0
  void Truncate(int n);
};

// A training set and a test set of the same shape and classes.
struct DatasetPair {
  Dataset train;
  Dataset test;
  std::string name;  // "mnist10k", "fashion-mnist", or the training images' file name
};

// Every loader takes a `limit`: with limit > 0 only the first `limit` samples
// are kept, and only their pixels are ever in memory (a 60,000-image file
// loaded with limit 1000 costs 1000 images). A limit changes what is kept,
// not what is checked: the whole file is still validated, with the same
// errors as without one. num_classes is then max kept label + 1.

// IDX files (big-endian header: two zero bytes, a type byte, a rank byte,
// then one uint32 per dimension), plain or gzip-compressed (read whole into
// memory, then as a plain file; the magic tells, not the name). Images: type 0x08 (uint8), rank 3
// (N, H, W) or rank 4 (N, H, W, C). Labels: type 0x08, rank 1 (N).
// On success num_classes is max label + 1.
StatusOr<Dataset> LoadIdx(const std::string& images_path, const std::string& labels_path, int limit = 0);

// NPY files (format versions 1, 2 and 3; C order only). Images: '|u1'
// (uint8, 0..255) or '<f4' (float32, each value in [0, 1]) of shape
// (N, H, W), (N, H, W, C) or (N, D); a flat (N, D) is read as sqrt(D) x
// sqrt(D) x 1 when D is a perfect square, else as 1 x D x 1. Labels: 1-D
// '|u1', '<i4' or '<i8', each value >= 0. On success num_classes is
// max label + 1.
StatusOr<Dataset> LoadNpy(const std::string& images_path, const std::string& labels_path, int limit = 0);

// CSV: one sample per line, the label first, then height*width*channels
// integer pixel values 0..255 (HWC order). An optional first line that does
// not start with a number is a header and is skipped; blank lines are
// skipped. With height == width == channels == 0 the shape is inferred from
// the column count as for a flat NPY. Errors name the line and column
// ("train.csv: line 7, column 12: value 300 is outside 0..255").
// On success num_classes is max label + 1.
StatusOr<Dataset> LoadCsv(const std::string& path, int height, int width, int channels, int limit = 0);

// Loads the data set a job names: source "mnist" (also the default when
// source is empty; fetched into cache_dir by EnsureMnist10k, or into
// DefaultDataCacheDir() when cache_dir is empty), "fashion-mnist" (from its
// Debian package, data/fashion_mnist.h; NotFound naming the package when it
// is not installed), "idx", "npy" or "csv".
// Applies train_limit / test_limit (first N samples; 0 means all) as the
// loaders' `limit`, so that a limit also lowers the memory a job needs, and
// num_classes (0 means max label over both sets + 1; otherwise every label
// must be below it). Train and test must have the same shape.
StatusOr<DatasetPair> LoadDataset(const v1::DataSpec& spec, const std::string& cache_dir);

}  // namespace qatlab
