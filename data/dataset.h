// Labelled image data sets and the loaders for the formats users bring:
// IDX (the MNIST format), NPY (numpy.save) and CSV. The built-in MNIST-10k
// set is produced as IDX files by data/mnist.h.
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
// Two views of the same pixels: `images` always holds floats in [0, 1] (what
// training reads); `pixels` holds the original uint8 values (0..255) when the
// source was uint8 — images[i] == pixels[i] / 255.0f exactly — so an integer
// model can be fed the exact bytes the data set holds. For float sources
// (NPY '<f4') `pixels` is empty.
struct Dataset {
  int height = 0;
  int width = 0;
  int channels = 0;
  // Labels are in [0, num_classes).
  int num_classes = 0;
  std::vector<float> images;    // size() * sample_size() values in [0, 1]
  std::vector<uint8_t> pixels;  // same layout as images, or empty
  std::vector<int32_t> labels;  // size() values

  int size() const { return static_cast<int>(labels.size()); }
  // Values per image: height * width * channels.
  int sample_size() const { return height * width * channels; }
  bool has_pixels() const { return !pixels.empty(); }

  // REQUIRES: 0 <= i < size()
  const float* image(int i) const { return images.data() + static_cast<size_t>(i) * sample_size(); }
  // REQUIRES: has_pixels() and 0 <= i < size()
  const uint8_t* pixel_image(int i) const { return pixels.data() + static_cast<size_t>(i) * sample_size(); }

  // Keeps only the first n samples (no-op when n >= size()).
  // REQUIRES: n >= 0
  void Truncate(int n);
};

// A training set and a test set of the same shape and classes.
struct DatasetPair {
  Dataset train;
  Dataset test;
  std::string name;  // "mnist10k", or the training images' file name
};

// IDX files (big-endian header: two zero bytes, a type byte, a rank byte,
// then one uint32 per dimension). Images: type 0x08 (uint8), rank 3
// (N, H, W) or rank 4 (N, H, W, C). Labels: type 0x08, rank 1 (N).
// On success num_classes is max label + 1.
StatusOr<Dataset> LoadIdx(const std::string& images_path, const std::string& labels_path);

// NPY files (format versions 1, 2 and 3; C order only). Images: '|u1'
// (uint8, 0..255) or '<f4' (float32, each value in [0, 1]) of shape
// (N, H, W), (N, H, W, C) or (N, D); a flat (N, D) is read as sqrt(D) x
// sqrt(D) x 1 when D is a perfect square, else as 1 x D x 1. Labels: 1-D
// '|u1', '<i4' or '<i8', each value >= 0. On success num_classes is
// max label + 1.
StatusOr<Dataset> LoadNpy(const std::string& images_path, const std::string& labels_path);

// CSV: one sample per line, the label first, then height*width*channels
// integer pixel values 0..255 (HWC order). An optional first line that does
// not start with a number is a header and is skipped; blank lines are
// skipped. With height == width == channels == 0 the shape is inferred from
// the column count as for a flat NPY. Errors name the line and column
// ("train.csv: line 7, column 12: value 300 is outside 0..255").
// On success num_classes is max label + 1.
StatusOr<Dataset> LoadCsv(const std::string& path, int height, int width, int channels);

// Loads the data set a job names: source "mnist" (also the default when
// source is empty; fetched into cache_dir by EnsureMnist10k, or into
// DefaultDataCacheDir() when cache_dir is empty), "idx", "npy" or "csv".
// Applies train_limit / test_limit (first N samples; 0 means all) and
// num_classes (0 means max label over both sets + 1; otherwise every label
// must be below it). Train and test must have the same shape.
StatusOr<DatasetPair> LoadDataset(const v1::DataSpec& spec, const std::string& cache_dir);

}  // namespace qatlab
