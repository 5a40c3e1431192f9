// The IDX / NPY / CSV loaders: files written here from seeded random data
// load back exactly, and every malformed file gives a message that names the
// file and the fault.
#include "data/dataset.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "qatlab/v1/job.pb.h"
#include "tests/support/temp_dir.h"

namespace qatlab {
namespace {

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string BigEndian32(uint32_t value) {
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xFF));
  return out;
}

// An IDX file: 0, 0, type, rank, the dims big-endian, then data.
std::string IdxBytes(uint8_t type, const std::vector<uint32_t>& dims, const std::string& data) {
  std::string bytes = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) bytes += BigEndian32(d);
  return bytes + data;
}

// An NPY file of format version 1 (or 2), header padded to 64 bytes.
std::string NpyBytes(const std::string& descr, const std::vector<uint64_t>& shape, const std::string& data,
                     bool fortran_order = false, int version = 1) {
  std::string shape_text = "(";
  for (uint64_t d : shape) shape_text += std::to_string(d) + ", ";
  shape_text += ")";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': " + (fortran_order ? "True" : "False") +
                       ", 'shape': " + shape_text + ", }";
  const size_t prefix = version == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes.push_back(static_cast<char>(version));
  bytes.push_back(0);
  const size_t length = header.size();
  bytes.push_back(static_cast<char>(length & 0xFF));
  bytes.push_back(static_cast<char>((length >> 8) & 0xFF));
  if (version != 1) bytes += std::string(2, '\0');
  return bytes + header + data;
}

template <typename T>
std::string RawBytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

std::vector<uint8_t> RandomPixels(size_t count, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> pixel(0, 255);
  std::vector<uint8_t> values(count);
  for (uint8_t& v : values) v = static_cast<uint8_t>(pixel(random));
  return values;
}

std::vector<int32_t> RandomLabels(size_t count, int classes, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> label(0, classes - 1);
  std::vector<int32_t> values(count);
  for (int32_t& v : values) v = label(random);
  return values;
}

// `bytes` as one gzip member, the way `gzip` writes it.
std::string Gzip(const std::string& bytes) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&stream, bytes.size()) + 64, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  stream.avail_in = static_cast<uInt>(bytes.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

std::string LabelBytesU8(const std::vector<int32_t>& labels) {
  std::string bytes;
  for (int32_t label : labels) bytes.push_back(static_cast<char>(label));
  return bytes;
}

int MaxLabel(const std::vector<int32_t>& labels) {
  int max_label = -1;
  for (int32_t label : labels) max_label = std::max(max_label, label);
  return max_label;
}

// All the images of a data set as floats, converted the way training reads them.
std::vector<float> AllImagesAsFloats(const Dataset& dataset) {
  std::vector<float> values(static_cast<size_t>(dataset.size()) * dataset.sample_size());
  dataset.ImagesAsFloats(0, dataset.size(), values.data());
  return values;
}

// The bytes are held as they are, once; training reads them / 255.
void ExpectHoldsPixels(const Dataset& dataset, const std::vector<uint8_t>& pixels) {
  ASSERT_EQ(dataset.pixels, pixels);
  ASSERT_TRUE(dataset.float_pixels.empty());
  const std::vector<float> values = AllImagesAsFloats(dataset);
  ASSERT_EQ(values.size(), pixels.size());
  for (size_t i = 0; i < pixels.size(); ++i) ASSERT_EQ(values[i], pixels[i] / 255.0f) << "value " << i;
}

// ------------------------------------------------------------- round trips

TEST(LoadIdx, ReadsBackImagesAndLabelsOfRankThree) {
  test_support::TempDir dir;
  const int count = 37, height = 5, width = 7;
  std::vector<uint8_t> pixels = RandomPixels(count * height * width, 1);
  std::vector<int32_t> labels = RandomLabels(count, 10, 2);
  WriteBytes(dir.File("images"), IdxBytes(0x08, {count, height, width}, RawBytes(pixels)));
  WriteBytes(dir.File("labels"), IdxBytes(0x08, {count}, LabelBytesU8(labels)));

  StatusOr<Dataset> dataset = LoadIdx(dir.File("images"), dir.File("labels"));

  ASSERT_TRUE(dataset.ok()) << dataset.status().ToString();
  EXPECT_EQ(dataset->size(), count);
  EXPECT_EQ(dataset->height, height);
  EXPECT_EQ(dataset->width, width);
  EXPECT_EQ(dataset->channels, 1);
  EXPECT_EQ(dataset->labels, labels);
  EXPECT_EQ(dataset->num_classes, MaxLabel(labels) + 1);
  ExpectHoldsPixels(*dataset, pixels);
  EXPECT_EQ(dataset->pixel_image(3)[0], pixels[3 * height * width]);
}

TEST(LoadIdx, ReadsChannelsFromRankFour) {
  test_support::TempDir dir;
  const int count = 6, height = 4, width = 3, channels = 3;
  std::vector<uint8_t> pixels = RandomPixels(count * height * width * channels, 3);
  std::vector<int32_t> labels = RandomLabels(count, 4, 4);
  WriteBytes(dir.File("images"), IdxBytes(0x08, {count, height, width, channels}, RawBytes(pixels)));
  WriteBytes(dir.File("labels"), IdxBytes(0x08, {count}, LabelBytesU8(labels)));

  StatusOr<Dataset> dataset = LoadIdx(dir.File("images"), dir.File("labels"));

  ASSERT_TRUE(dataset.ok()) << dataset.status().ToString();
  EXPECT_EQ(dataset->channels, channels);
  EXPECT_EQ(dataset->sample_size(), height * width * channels);
  ExpectHoldsPixels(*dataset, pixels);
}

TEST(LoadNpy, ReadsUint8ImagesWithInt64Labels) {
  test_support::TempDir dir;
  const int count = 20, height = 6, width = 6;
  std::vector<uint8_t> pixels = RandomPixels(count * height * width, 5);
  std::vector<int32_t> labels32 = RandomLabels(count, 10, 6);
  std::vector<int64_t> labels(labels32.begin(), labels32.end());
  WriteBytes(dir.File("x.npy"), NpyBytes("|u1", {count, height, width}, RawBytes(pixels)));
  WriteBytes(dir.File("y.npy"), NpyBytes("<i8", {count}, RawBytes(labels)));

  StatusOr<Dataset> dataset = LoadNpy(dir.File("x.npy"), dir.File("y.npy"));

  ASSERT_TRUE(dataset.ok()) << dataset.status().ToString();
  EXPECT_EQ(dataset->height, height);
  EXPECT_EQ(dataset->width, width);
  EXPECT_EQ(dataset->channels, 1);
  EXPECT_EQ(dataset->labels, labels32);
  ExpectHoldsPixels(*dataset, pixels);
}

TEST(LoadNpy, ReadsFloatImagesOfRankFourWithoutAUint8View) {
  test_support::TempDir dir;
  const int count = 9, height = 3, width = 2, channels = 2;
  std::mt19937 random(7);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> values(count * height * width * channels);
  for (float& v : values) v = unit(random);
  std::vector<int32_t> labels = RandomLabels(count, 3, 8);
  WriteBytes(dir.File("x.npy"), NpyBytes("<f4", {count, height, width, channels}, RawBytes(values), false, 2));
  WriteBytes(dir.File("y.npy"), NpyBytes("<i4", {count}, RawBytes(labels)));

  StatusOr<Dataset> dataset = LoadNpy(dir.File("x.npy"), dir.File("y.npy"));

  ASSERT_TRUE(dataset.ok()) << dataset.status().ToString();
  EXPECT_EQ(dataset->channels, channels);
  EXPECT_EQ(dataset->float_pixels, values);
  EXPECT_FALSE(dataset->has_pixels());
  EXPECT_EQ(AllImagesAsFloats(*dataset), values);
  EXPECT_EQ(dataset->labels, labels);
}

TEST(LoadNpy, ReadsAFlatSquareSampleAsASquareImage) {
  test_support::TempDir dir;
  const int count = 4;
  std::vector<uint8_t> pixels = RandomPixels(count * 16, 9);
  std::vector<int32_t> labels = RandomLabels(count, 2, 10);
  WriteBytes(dir.File("x.npy"), NpyBytes("|u1", {count, 16}, RawBytes(pixels)));
  WriteBytes(dir.File("y.npy"), NpyBytes("|u1", {count}, LabelBytesU8(labels)));

  StatusOr<Dataset> dataset = LoadNpy(dir.File("x.npy"), dir.File("y.npy"));

  ASSERT_TRUE(dataset.ok()) << dataset.status().ToString();
  EXPECT_EQ(dataset->height, 4);
  EXPECT_EQ(dataset->width, 4);
  ExpectHoldsPixels(*dataset, pixels);
}

// Writes rows as CSV: label, then pixels.
std::string CsvText(const std::vector<int32_t>& labels, const std::vector<uint8_t>& pixels, int sample_size,
                    const std::string& line_end) {
  std::string text;
  for (size_t i = 0; i < labels.size(); ++i) {
    text += std::to_string(labels[i]);
    for (int k = 0; k < sample_size; ++k) {
      text += ',';
      text += std::to_string(pixels[i * sample_size + k]);
    }
    text += line_end;
  }
  return text;
}

TEST(LoadCsv, ReadsRowsAfterAHeaderWithCrLfAndBlankLines) {
  test_support::TempDir dir;
  const int count = 11, height = 3, width = 3;
  std::vector<uint8_t> pixels = RandomPixels(count * height * width, 11);
  std::vector<int32_t> labels = RandomLabels(count, 5, 12);
  WriteBytes(dir.File("d.csv"),
             "label,p0,p1,p2,p3,p4,p5,p6,p7,p8\r\n" + CsvText(labels, pixels, height * width, "\r\n") + "\r\n\n");

  StatusOr<Dataset> dataset = LoadCsv(dir.File("d.csv"), height, width, 1);

  ASSERT_TRUE(dataset.ok()) << dataset.status().ToString();
  EXPECT_EQ(dataset->labels, labels);
  EXPECT_EQ(dataset->height, height);
  ExpectHoldsPixels(*dataset, pixels);
}

TEST(LoadCsv, InfersASquareShapeFromTheColumnCount) {
  test_support::TempDir dir;
  const int count = 5;
  std::vector<uint8_t> pixels = RandomPixels(count * 25, 13);
  std::vector<int32_t> labels = RandomLabels(count, 3, 14);
  WriteBytes(dir.File("d.csv"), CsvText(labels, pixels, 25, "\n"));

  StatusOr<Dataset> dataset = LoadCsv(dir.File("d.csv"), 0, 0, 0);

  ASSERT_TRUE(dataset.ok()) << dataset.status().ToString();
  EXPECT_EQ(dataset->height, 5);
  EXPECT_EQ(dataset->width, 5);
  EXPECT_EQ(dataset->channels, 1);
  ExpectHoldsPixels(*dataset, pixels);
}

TEST(LoadCsv, InfersTheShapeFromTheFirstDataLineAfterAHeader) {
  test_support::TempDir dir;
  const int count = 4;
  std::vector<uint8_t> pixels = RandomPixels(count * 16, 15);
  std::vector<int32_t> labels = RandomLabels(count, 3, 16);
  std::string header = "label";
  for (int i = 0; i < 16; ++i) header += ",p" + std::to_string(i);
  WriteBytes(dir.File("d.csv"), header + "\n" + CsvText(labels, pixels, 16, "\n"));

  StatusOr<Dataset> dataset = LoadCsv(dir.File("d.csv"), 0, 0, 0);

  ASSERT_TRUE(dataset.ok()) << dataset.status().ToString();
  EXPECT_EQ(dataset->height, 4);
  EXPECT_EQ(dataset->width, 4);
  EXPECT_EQ(dataset->labels, labels);
  ExpectHoldsPixels(*dataset, pixels);
}

TEST(LoadIdx, ReadsGzippedFilesAsThePlainOnes) {
  test_support::TempDir dir;
  const int count = 300, height = 28, width = 28;
  std::vector<uint8_t> pixels = RandomPixels(count * height * width, 30);
  std::vector<int32_t> labels = RandomLabels(count, 10, 31);
  WriteBytes(dir.File("train-images-idx3-ubyte.gz"), Gzip(IdxBytes(0x08, {count, height, width}, RawBytes(pixels))));
  WriteBytes(dir.File("train-labels-idx1-ubyte.gz"), Gzip(IdxBytes(0x08, {count}, LabelBytesU8(labels))));

  StatusOr<Dataset> dataset =
      LoadIdx(dir.File("train-images-idx3-ubyte.gz"), dir.File("train-labels-idx1-ubyte.gz"), 120);

  ASSERT_TRUE(dataset.ok()) << dataset.status().ToString();
  EXPECT_EQ(dataset->size(), 120);
  EXPECT_EQ(dataset->height, height);
  EXPECT_EQ(dataset->width, width);
  EXPECT_EQ(dataset->labels, std::vector<int32_t>(labels.begin(), labels.begin() + 120));
  ExpectHoldsPixels(*dataset, std::vector<uint8_t>(pixels.begin(), pixels.begin() + 120 * height * width));
}

TEST(LoadIdx, ATruncatedOrCorruptGzipFileIsNamed) {
  test_support::TempDir dir;
  const std::string labels = Gzip(IdxBytes(0x08, {64}, LabelBytesU8(RandomLabels(64, 10, 32))));
  WriteBytes(dir.File("images"), IdxBytes(0x08, {64, 2, 2}, RawBytes(RandomPixels(64 * 4, 33))));
  WriteBytes(dir.File("labels.gz"), labels.substr(0, labels.size() - 9));

  StatusOr<Dataset> truncated = LoadIdx(dir.File("images"), dir.File("labels.gz"));

  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("labels.gz: gzip data end before"), std::string::npos)
      << truncated.status().message();

  std::string corrupt = labels;
  corrupt[12] = static_cast<char>(corrupt[12] ^ 0x5A);
  corrupt[13] = static_cast<char>(corrupt[13] ^ 0xA5);
  WriteBytes(dir.File("labels.gz"), corrupt);
  StatusOr<Dataset> corrupted = LoadIdx(dir.File("images"), dir.File("labels.gz"));
  ASSERT_FALSE(corrupted.ok());
  EXPECT_NE(corrupted.status().message().find("labels.gz: "), std::string::npos) << corrupted.status().message();

  WriteBytes(dir.File("labels.gz"), labels + "trailing");
  StatusOr<Dataset> trailing = LoadIdx(dir.File("images"), dir.File("labels.gz"));
  ASSERT_FALSE(trailing.ok());
  EXPECT_NE(trailing.status().message().find("labels.gz: 8 unexpected bytes after the gzip stream"), std::string::npos)
      << trailing.status().message();
}

// ------------------------------------------------------------- LoadDataset

// Writes train (count_train) and test (count_test) NPY pairs of 4x4 images.
v1::DataSpec WriteNpyPair(const test_support::TempDir& dir, int count_train, int count_test, int classes) {
  std::vector<uint8_t> train = RandomPixels(count_train * 16, 20);
  std::vector<uint8_t> test = RandomPixels(count_test * 16, 21);
  WriteBytes(dir.File("train_x.npy"), NpyBytes("|u1", {static_cast<uint64_t>(count_train), 4, 4}, RawBytes(train)));
  WriteBytes(dir.File("train_y.npy"),
             NpyBytes("<i4", {static_cast<uint64_t>(count_train)}, RawBytes(RandomLabels(count_train, classes, 22))));
  WriteBytes(dir.File("test_x.npy"), NpyBytes("|u1", {static_cast<uint64_t>(count_test), 4, 4}, RawBytes(test)));
  WriteBytes(dir.File("test_y.npy"),
             NpyBytes("<i4", {static_cast<uint64_t>(count_test)}, RawBytes(RandomLabels(count_test, classes, 23))));
  v1::DataSpec spec;
  spec.set_source("npy");
  spec.set_train_images(dir.File("train_x.npy"));
  spec.set_train_labels(dir.File("train_y.npy"));
  spec.set_test_images(dir.File("test_x.npy"));
  spec.set_test_labels(dir.File("test_y.npy"));
  return spec;
}

TEST(LoadDataset, AppliesLimitsAndCountsClassesOverBothSets) {
  test_support::TempDir dir;
  v1::DataSpec spec = WriteNpyPair(dir, 300, 100, 7);
  spec.set_train_limit(250);
  spec.set_test_limit(40);

  StatusOr<DatasetPair> pair = LoadDataset(spec, dir.File("cache"));

  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  EXPECT_EQ(pair->train.size(), 250);
  EXPECT_EQ(pair->test.size(), 40);
  EXPECT_EQ(pair->train.pixels.size(), 250u * 16);
  EXPECT_TRUE(pair->train.float_pixels.empty());
  // Only what is kept was ever allocated: 250 images of 16 bytes, 250 labels.
  EXPECT_LE(pair->train.memory_bytes(), 250u * 16 + 250u * sizeof(int32_t));
  EXPECT_EQ(pair->train.num_classes, 7);
  EXPECT_EQ(pair->test.num_classes, 7);
  EXPECT_EQ(pair->name, "train_x.npy");
}

TEST(LoadDataset, RejectsALabelAboveTheStatedClassCount) {
  test_support::TempDir dir;
  v1::DataSpec spec = WriteNpyPair(dir, 50, 20, 7);
  spec.set_num_classes(5);

  StatusOr<DatasetPair> pair = LoadDataset(spec, dir.File("cache"));

  ASSERT_FALSE(pair.ok());
  EXPECT_EQ(pair.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(pair.status().message().find("out of range for data.num_classes = 5"), std::string::npos)
      << pair.status().message();
}

TEST(LoadDataset, ReshapesAFlatNpyToTheStatedShape) {
  test_support::TempDir dir;
  v1::DataSpec spec = WriteNpyPair(dir, 10, 10, 2);
  std::vector<uint8_t> flat = RandomPixels(10 * 16, 24);
  WriteBytes(dir.File("train_x.npy"), NpyBytes("|u1", {10, 16}, RawBytes(flat)));
  WriteBytes(dir.File("test_x.npy"), NpyBytes("|u1", {10, 16}, RawBytes(flat)));
  spec.set_height(2);
  spec.set_width(8);

  StatusOr<DatasetPair> pair = LoadDataset(spec, dir.File("cache"));

  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  EXPECT_EQ(pair->train.height, 2);
  EXPECT_EQ(pair->train.width, 8);
  EXPECT_EQ(pair->test.height, 2);
}

TEST(LoadDataset, AStatedShapeThatTheFilesContradictIsAnError) {
  test_support::TempDir dir;
  v1::DataSpec spec = WriteNpyPair(dir, 10, 10, 2);  // 4x4x1 images
  spec.set_height(28);
  spec.set_width(28);

  StatusOr<DatasetPair> pair = LoadDataset(spec, dir.File("cache"));

  ASSERT_FALSE(pair.ok());
  EXPECT_NE(pair.status().message().find("data.height/width/channels: 28x28x1 contradicts " + spec.train_images() +
                                         ", whose images are 4x4x1"),
            std::string::npos)
      << pair.status().message();

  spec.set_height(4);
  spec.set_width(4);
  EXPECT_TRUE(LoadDataset(spec, dir.File("cache")).ok()) << "a shape that agrees is fine";
}

TEST(LoadDataset, RejectsTrainAndTestOfDifferentShapes) {
  test_support::TempDir dir;
  v1::DataSpec spec = WriteNpyPair(dir, 10, 10, 2);
  WriteBytes(dir.File("test_x.npy"), NpyBytes("|u1", {10, 5, 5}, RawBytes(RandomPixels(250, 25))));

  StatusOr<DatasetPair> pair = LoadDataset(spec, dir.File("cache"));

  ASSERT_FALSE(pair.ok());
  EXPECT_NE(pair.status().message().find("training images are 4x4x1 but test images are 5x5x1"), std::string::npos)
      << pair.status().message();
}

TEST(LoadDataset, ReadsCsvWithTheShapeFromTheSpec) {
  test_support::TempDir dir;
  std::vector<int32_t> labels = RandomLabels(8, 3, 26);
  std::vector<uint8_t> pixels = RandomPixels(8 * 6, 27);
  WriteBytes(dir.File("train.csv"), CsvText(labels, pixels, 6, "\n"));
  WriteBytes(dir.File("test.csv"), CsvText(labels, pixels, 6, "\n"));
  v1::DataSpec spec;
  spec.set_source("csv");
  spec.set_train_images(dir.File("train.csv"));
  spec.set_test_images(dir.File("test.csv"));
  spec.set_height(2);
  spec.set_width(3);

  StatusOr<DatasetPair> pair = LoadDataset(spec, dir.File("cache"));

  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  EXPECT_EQ(pair->train.height, 2);
  EXPECT_EQ(pair->train.width, 3);
  EXPECT_EQ(pair->train.channels, 1);
  EXPECT_EQ(pair->test.labels, labels);
}

TEST(LoadDataset, NamesAnUnknownSourceAndAMissingPath) {
  v1::DataSpec spec;
  spec.set_source("parquet");
  StatusOr<DatasetPair> unknown = LoadDataset(spec, "/nonexistent");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'parquet' is not one of"), std::string::npos);

  spec.set_source("idx");
  spec.set_train_images("/x");
  StatusOr<DatasetPair> missing = LoadDataset(spec, "/nonexistent");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("data.train_labels is empty"), std::string::npos)
      << missing.status().message();
}

// ------------------------------------------------------------- malformed input

// One malformed input: `write` creates files in dir and returns the load
// result; the message must contain `expected` and name `file`.
struct MalformedCase {
  std::string name;
  std::function<Status(const test_support::TempDir&)> load;
  std::string file;
  std::string expected;
};

Status LoadIdxFiles(const test_support::TempDir& dir, const std::string& images, const std::string& labels) {
  WriteBytes(dir.File("images"), images);
  WriteBytes(dir.File("labels"), labels);
  return LoadIdx(dir.File("images"), dir.File("labels")).status();
}

Status LoadNpyFiles(const test_support::TempDir& dir, const std::string& images, const std::string& labels) {
  WriteBytes(dir.File("x.npy"), images);
  WriteBytes(dir.File("y.npy"), labels);
  return LoadNpy(dir.File("x.npy"), dir.File("y.npy")).status();
}

Status LoadCsvText(const test_support::TempDir& dir, const std::string& text) {
  WriteBytes(dir.File("d.csv"), text);
  return LoadCsv(dir.File("d.csv"), 1, 3, 1).status();
}

const std::string kTenLabels = IdxBytes(0x08, {10}, std::string(10, '\1'));
const std::string kGoodNpyLabels = NpyBytes("|u1", {2}, std::string(2, '\1'));

std::vector<MalformedCase> MalformedCases() {
  return {
      {"IdxTruncatedHeader",
       [](const test_support::TempDir& d) {
         return LoadIdxFiles(d, IdxBytes(0x08, {10, 28, 28}, "").substr(0, 9), kTenLabels);
       },
       "images", "truncated: IDX header of rank 3 needs 16 bytes but the file has 9"},
      {"IdxEmptyFile", [](const test_support::TempDir& d) { return LoadIdxFiles(d, "", kTenLabels); }, "images",
       "truncated: 0 bytes"},
      {"IdxTruncatedData",
       [](const test_support::TempDir& d) {
         return LoadIdxFiles(d, IdxBytes(0x08, {10, 28, 28}, std::string(1200, '\0')), kTenLabels);
       },
       "images", "truncated: header says 10 images of 28x28 (7840 bytes) but 1200 remain"},
      {"IdxWrongMagic",
       [](const test_support::TempDir& d) { return LoadIdxFiles(d, "PK\3\4 this is a zip file", kTenLabels); },
       "images", "not an IDX file (magic 0x504B0304"},
      {"IdxUnsupportedType",
       [](const test_support::TempDir& d) {
         return LoadIdxFiles(d, IdxBytes(0x0D, {10, 2, 2}, std::string(160, '\0')), kTenLabels);
       },
       "images", "unsupported IDX element type 0x0D"},
      {"IdxTrailingBytes",
       [](const test_support::TempDir& d) {
         return LoadIdxFiles(d, IdxBytes(0x08, {10, 2, 2}, std::string(41, '\0')), kTenLabels);
       },
       "images", "1 unexpected bytes after the data"},
      {"IdxLabelCountMismatch",
       [](const test_support::TempDir& d) {
         return LoadIdxFiles(d, IdxBytes(0x08, {10, 2, 2}, std::string(40, '\0')),
                             IdxBytes(0x08, {9}, std::string(9, '\0')));
       },
       "images", "has 10 images but"},
      {"IdxLabelsOfRankTwo",
       [](const test_support::TempDir& d) {
         return LoadIdxFiles(d, IdxBytes(0x08, {10, 2, 2}, std::string(40, '\0')),
                             IdxBytes(0x08, {10, 1}, std::string(10, '\0')));
       },
       "labels", "IDX rank 2 for labels, expected 1"},
      {"IdxHugeShape",
       [](const test_support::TempDir& d) {
         return LoadIdxFiles(d, IdxBytes(0x08, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, ""), kTenLabels);
       },
       "images", "implausibly large"},
      {"NpyBadMagic",
       [](const test_support::TempDir& d) { return LoadNpyFiles(d, "NUMPY\1 not really", kGoodNpyLabels); }, "x.npy",
       "not an NPY file"},
      {"NpyFortranOrder",
       [](const test_support::TempDir& d) {
         return LoadNpyFiles(d, NpyBytes("|u1", {2, 2, 2}, std::string(8, '\0'), true), kGoodNpyLabels);
       },
       "x.npy", "fortran_order is True"},
      {"NpyUnsupportedDtype",
       [](const test_support::TempDir& d) {
         return LoadNpyFiles(d, NpyBytes("<f8", {2, 2, 2}, std::string(64, '\0')), kGoodNpyLabels);
       },
       "x.npy", "unsupported dtype '<f8' for images"},
      {"NpyFloatLabels",
       [](const test_support::TempDir& d) {
         return LoadNpyFiles(d, NpyBytes("|u1", {2, 2, 2}, std::string(8, '\0')),
                             NpyBytes("<f4", {2}, std::string(8, '\0')));
       },
       "y.npy", "unsupported dtype '<f4' for labels"},
      {"NpyBadHeader",
       [](const test_support::TempDir& d) {
         std::string bytes = NpyBytes("|u1", {2, 2, 2}, std::string(8, '\0'));
         bytes.replace(bytes.find("'shape'"), 7, "'shope'");
         return LoadNpyFiles(d, bytes, kGoodNpyLabels);
       },
       "x.npy", "bad NPY header: unknown key 'shope'"},
      {"NpyHeaderLongerThanFile",
       [](const test_support::TempDir& d) {
         return LoadNpyFiles(d, NpyBytes("|u1", {2, 2, 2}, "").substr(0, 30), kGoodNpyLabels);
       },
       "x.npy", "header bytes but 20 remain"},
      {"NpyTruncatedData",
       [](const test_support::TempDir& d) {
         return LoadNpyFiles(d, NpyBytes("<f4", {2, 2, 2}, std::string(12, '\0')), kGoodNpyLabels);
       },
       "x.npy", "truncated: shape (2x2x2) of '<f4' needs 32 bytes but 12 remain"},
      {"NpyFloatOutsideUnitRange",
       [](const test_support::TempDir& d) {
         std::vector<float> values(8, 0.5f);
         values[5] = 255.0f;
         return LoadNpyFiles(d, NpyBytes("<f4", {2, 2, 2}, RawBytes(values)), kGoodNpyLabels);
       },
       "x.npy", "of sample 1 is outside [0, 1]"},
      {"NpyNegativeLabel",
       [](const test_support::TempDir& d) {
         std::vector<int64_t> labels = {1, -3};
         return LoadNpyFiles(d, NpyBytes("|u1", {2, 2, 2}, std::string(8, '\0')),
                             NpyBytes("<i8", {2}, RawBytes(labels)));
       },
       "y.npy", "label -3 of sample 1 is negative"},
      {"NpyCountMismatch",
       [](const test_support::TempDir& d) {
         return LoadNpyFiles(d, NpyBytes("|u1", {3, 2, 2}, std::string(12, '\0')), kGoodNpyLabels);
       },
       "x.npy", "has 3 images but"},
      {"CsvRaggedRow", [](const test_support::TempDir& d) { return LoadCsvText(d, "1,2,3,4\n0,5,6\n"); }, "d.csv",
       "line 2: 3 columns, expected 4"},
      {"CsvValue300", [](const test_support::TempDir& d) { return LoadCsvText(d, "h,a,b,c\n1,2,3,4\n0,5,300,7\n"); },
       "d.csv", "line 3, column 3: value 300 is outside 0..255"},
      {"CsvNotANumber", [](const test_support::TempDir& d) { return LoadCsvText(d, "1,2,3,4\n0,5,abc,7\n"); }, "d.csv",
       "line 2, column 3: 'abc' is not an integer"},
      {"CsvNegativeLabel", [](const test_support::TempDir& d) { return LoadCsvText(d, "-1,2,3,4\n"); }, "d.csv",
       "line 1, column 1: label -1 is negative"},
      {"CsvOnlyAHeader", [](const test_support::TempDir& d) { return LoadCsvText(d, "label,a,b,c\n"); }, "d.csv",
       "holds no samples"},
      {"MissingFile",
       [](const test_support::TempDir& d) { return LoadIdx(d.File("nowhere"), d.File("labels")).status(); }, "nowhere",
       "cannot open"},
  };
}

// Test names already say which case failed; keep gtest from dumping bytes.
void PrintTo(const MalformedCase& c, std::ostream* out) { *out << c.name; }

class MalformedInput : public testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedInput, IsAnErrorNamingTheFileAndTheFault) {
  test_support::TempDir dir;
  const MalformedCase& c = GetParam();

  Status status = c.load(dir);

  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(c.expected), std::string::npos) << status.message();
  EXPECT_NE(status.message().find(dir.File(c.file)), std::string::npos) << status.message();
}

INSTANTIATE_TEST_SUITE_P(Loaders, MalformedInput, testing::ValuesIn(MalformedCases()),
                         [](const testing::TestParamInfo<MalformedCase>& info) { return info.param.name; });

TEST(Dataset, TruncateKeepsTheFirstSamplesAndReleasesTheRest) {
  Dataset dataset;
  dataset.height = 1;
  dataset.width = 2;
  dataset.channels = 1;
  dataset.pixels = {1, 2, 3, 4, 5, 6};
  dataset.labels = {0, 1, 0};

  dataset.Truncate(2);

  EXPECT_EQ(dataset.size(), 2);
  EXPECT_EQ(dataset.pixels, (std::vector<uint8_t>{1, 2, 3, 4}));
  EXPECT_EQ(dataset.memory_bytes(), 4u + 2 * sizeof(int32_t));
}

// ------------------------------------------------------------- memory

// 1000 MNIST-sized images, as IDX files in dir; returns the pixels.
std::vector<uint8_t> WriteThousandDigitSizedImages(const test_support::TempDir& dir) {
  std::vector<uint8_t> pixels = RandomPixels(1000 * 28 * 28, 31);
  WriteBytes(dir.File("images"), IdxBytes(0x08, {1000, 28, 28}, RawBytes(pixels)));
  WriteBytes(dir.File("labels"), IdxBytes(0x08, {1000}, LabelBytesU8(RandomLabels(1000, 10, 32))));
  return pixels;
}

TEST(Dataset, AnEightBitSetIsHeldAsOneBytePerValue) {
  test_support::TempDir dir;
  WriteThousandDigitSizedImages(dir);

  StatusOr<Dataset> dataset = LoadIdx(dir.File("images"), dir.File("labels"));

  ASSERT_TRUE(dataset.ok()) << dataset.status().ToString();
  // 784 bytes per image and a 4-byte label; a float copy would be 3136 more.
  EXPECT_GE(dataset->memory_bytes(), 1000u * 784);
  EXPECT_LE(dataset->memory_bytes(), 1000u * 784 + 1000u * sizeof(int32_t));
}

TEST(Dataset, ConvertsEachBatchToTheFloatsTrainingAlwaysRead) {
  // Every byte value once, in a 16x16 image, then the same image reversed.
  Dataset dataset;
  dataset.height = 16;
  dataset.width = 16;
  dataset.channels = 1;
  for (int v = 0; v < 256; ++v) dataset.pixels.push_back(static_cast<uint8_t>(v));
  for (int v = 255; v >= 0; --v) dataset.pixels.push_back(static_cast<uint8_t>(v));
  dataset.labels = {0, 1};

  std::vector<float> batch(2 * 256);
  dataset.ImagesAsFloats(0, 2, batch.data());
  std::vector<float> second(256);
  dataset.ImageAsFloats(1, second.data());

  // What the loaders stored before batches were converted: byte / 255.0f.
  for (int v = 0; v < 256; ++v) {
    EXPECT_EQ(batch[v], static_cast<uint8_t>(v) / 255.0f) << v;
    EXPECT_EQ(batch[256 + 255 - v], static_cast<uint8_t>(v) / 255.0f) << v;
    EXPECT_EQ(second[255 - v], static_cast<uint8_t>(v) / 255.0f) << v;
  }
  EXPECT_EQ(batch[0], 0.0f);
  EXPECT_EQ(batch[51], 0.2f);
  EXPECT_EQ(batch[255], 1.0f);
}

TEST(Dataset, ALimitKeepsTheFirstSamplesAndOnlyTheirMemory) {
  test_support::TempDir dir;
  const std::vector<uint8_t> pixels = WriteThousandDigitSizedImages(dir);

  StatusOr<Dataset> dataset = LoadIdx(dir.File("images"), dir.File("labels"), 100);

  ASSERT_TRUE(dataset.ok()) << dataset.status().ToString();
  EXPECT_EQ(dataset->size(), 100);
  ExpectHoldsPixels(*dataset, std::vector<uint8_t>(pixels.begin(), pixels.begin() + 100 * 784));
  EXPECT_LE(dataset->memory_bytes(), 100u * 784 + 100u * sizeof(int32_t));
}

TEST(Dataset, ALimitDoesNotHideAFaultPastIt) {
  test_support::TempDir dir;
  // IDX: one byte short at the very end.
  WriteBytes(dir.File("images"), IdxBytes(0x08, {10, 2, 2}, std::string(39, '\0')));
  WriteBytes(dir.File("labels"), IdxBytes(0x08, {10}, std::string(10, '\0')));
  // NPY: the last float is out of range.
  std::vector<float> values(10 * 4, 0.5f);
  values.back() = 2.0f;
  WriteBytes(dir.File("x.npy"), NpyBytes("<f4", {10, 2, 2}, RawBytes(values)));
  WriteBytes(dir.File("y.npy"), NpyBytes("|u1", {10}, std::string(10, '\0')));
  // CSV: the last line has a value above 255.
  WriteBytes(dir.File("d.csv"), "0,1,2,3,4\n1,5,6,7,8\n0,9,10,11,300\n");

  const Status idx = LoadIdx(dir.File("images"), dir.File("labels"), 2).status();
  const Status npy = LoadNpy(dir.File("x.npy"), dir.File("y.npy"), 2).status();
  const Status csv = LoadCsv(dir.File("d.csv"), 2, 2, 1, 1).status();

  EXPECT_NE(idx.message().find("truncated"), std::string::npos) << idx.ToString();
  EXPECT_NE(npy.message().find("value 2.000000 of sample 9 is outside [0, 1]"), std::string::npos) << npy.ToString();
  EXPECT_NE(csv.message().find("line 3, column 5: value 300 is outside 0..255"), std::string::npos) << csv.ToString();
}

}  // namespace
}  // namespace qatlab
