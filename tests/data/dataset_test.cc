// The IDX / NPY / CSV loaders: files written here from seeded random data
// load back exactly, and every malformed file gives a message that names the
// file and the fault.
#include "engine/dataset.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "qatlab/v1/job.pb.h"

namespace qatlab {
namespace {

namespace fs = std::filesystem;

class TemporaryDirectory {
 public:
  TemporaryDirectory() {
    std::string pattern = (fs::temp_directory_path() / "qatlab-dataset-test-XXXXXX").string();
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (::mkdtemp(buffer.data()) != nullptr) path_ = buffer.data();
  }
  ~TemporaryDirectory() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

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

// The uint8 view holds the bytes, the float view holds them / 255.
void ExpectHoldsPixels(const Dataset& dataset, const std::vector<uint8_t>& pixels) {
  ASSERT_EQ(dataset.pixels, pixels);
  ASSERT_EQ(dataset.images.size(), pixels.size());
  for (size_t i = 0; i < pixels.size(); ++i) ASSERT_EQ(dataset.images[i], pixels[i] / 255.0f) << "value " << i;
}

// ------------------------------------------------------------- round trips

TEST(LoadIdx, ReadsBackImagesAndLabelsOfRankThree) {
  TemporaryDirectory dir;
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
  TemporaryDirectory dir;
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
  TemporaryDirectory dir;
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
  TemporaryDirectory dir;
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
  EXPECT_EQ(dataset->images, values);
  EXPECT_FALSE(dataset->has_pixels());
  EXPECT_EQ(dataset->labels, labels);
}

TEST(LoadNpy, ReadsAFlatSquareSampleAsASquareImage) {
  TemporaryDirectory dir;
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
  TemporaryDirectory dir;
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
  TemporaryDirectory dir;
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

// ------------------------------------------------------------- LoadDataset

// Writes train (count_train) and test (count_test) NPY pairs of 4x4 images.
v1::DataSpec WriteNpyPair(const TemporaryDirectory& dir, int count_train, int count_test, int classes) {
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
  TemporaryDirectory dir;
  v1::DataSpec spec = WriteNpyPair(dir, 300, 100, 7);
  spec.set_train_limit(250);
  spec.set_test_limit(40);

  StatusOr<DatasetPair> pair = LoadDataset(spec, dir.File("cache"));

  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  EXPECT_EQ(pair->train.size(), 250);
  EXPECT_EQ(pair->test.size(), 40);
  EXPECT_EQ(pair->train.images.size(), 250u * 16);
  EXPECT_EQ(pair->train.pixels.size(), 250u * 16);
  EXPECT_EQ(pair->train.num_classes, 7);
  EXPECT_EQ(pair->test.num_classes, 7);
  EXPECT_EQ(pair->name, "train_x.npy");
}

TEST(LoadDataset, RejectsALabelAboveTheStatedClassCount) {
  TemporaryDirectory dir;
  v1::DataSpec spec = WriteNpyPair(dir, 50, 20, 7);
  spec.set_num_classes(5);

  StatusOr<DatasetPair> pair = LoadDataset(spec, dir.File("cache"));

  ASSERT_FALSE(pair.ok());
  EXPECT_EQ(pair.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(pair.status().message().find("out of range for data.num_classes = 5"), std::string::npos)
      << pair.status().message();
}

TEST(LoadDataset, ReshapesAFlatNpyToTheStatedShape) {
  TemporaryDirectory dir;
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

TEST(LoadDataset, RejectsTrainAndTestOfDifferentShapes) {
  TemporaryDirectory dir;
  v1::DataSpec spec = WriteNpyPair(dir, 10, 10, 2);
  WriteBytes(dir.File("test_x.npy"), NpyBytes("|u1", {10, 5, 5}, RawBytes(RandomPixels(250, 25))));

  StatusOr<DatasetPair> pair = LoadDataset(spec, dir.File("cache"));

  ASSERT_FALSE(pair.ok());
  EXPECT_NE(pair.status().message().find("training images are 4x4x1 but test images are 5x5x1"), std::string::npos)
      << pair.status().message();
}

TEST(LoadDataset, ReadsCsvWithTheShapeFromTheSpec) {
  TemporaryDirectory dir;
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
  std::function<Status(const TemporaryDirectory&)> load;
  std::string file;
  std::string expected;
};

Status LoadIdxFiles(const TemporaryDirectory& dir, const std::string& images, const std::string& labels) {
  WriteBytes(dir.File("images"), images);
  WriteBytes(dir.File("labels"), labels);
  return LoadIdx(dir.File("images"), dir.File("labels")).status();
}

Status LoadNpyFiles(const TemporaryDirectory& dir, const std::string& images, const std::string& labels) {
  WriteBytes(dir.File("x.npy"), images);
  WriteBytes(dir.File("y.npy"), labels);
  return LoadNpy(dir.File("x.npy"), dir.File("y.npy")).status();
}

Status LoadCsvText(const TemporaryDirectory& dir, const std::string& text) {
  WriteBytes(dir.File("d.csv"), text);
  return LoadCsv(dir.File("d.csv"), 1, 3, 1).status();
}

const std::string kTenLabels = IdxBytes(0x08, {10}, std::string(10, '\1'));
const std::string kGoodNpyLabels = NpyBytes("|u1", {2}, std::string(2, '\1'));

std::vector<MalformedCase> MalformedCases() {
  return {
      {"IdxTruncatedHeader",
       [](const TemporaryDirectory& d) {
         return LoadIdxFiles(d, IdxBytes(0x08, {10, 28, 28}, "").substr(0, 9), kTenLabels);
       },
       "images", "truncated: IDX header of rank 3 needs 16 bytes but the file has 9"},
      {"IdxEmptyFile", [](const TemporaryDirectory& d) { return LoadIdxFiles(d, "", kTenLabels); }, "images",
       "truncated: 0 bytes"},
      {"IdxTruncatedData",
       [](const TemporaryDirectory& d) {
         return LoadIdxFiles(d, IdxBytes(0x08, {10, 28, 28}, std::string(1200, '\0')), kTenLabels);
       },
       "images", "truncated: header says 10 images of 28x28 (7840 bytes) but 1200 remain"},
      {"IdxWrongMagic",
       [](const TemporaryDirectory& d) { return LoadIdxFiles(d, "PK\3\4 this is a zip file", kTenLabels); }, "images",
       "not an IDX file (magic 0x504B0304"},
      {"IdxUnsupportedType",
       [](const TemporaryDirectory& d) {
         return LoadIdxFiles(d, IdxBytes(0x0D, {10, 2, 2}, std::string(160, '\0')), kTenLabels);
       },
       "images", "unsupported IDX element type 0x0D"},
      {"IdxTrailingBytes",
       [](const TemporaryDirectory& d) {
         return LoadIdxFiles(d, IdxBytes(0x08, {10, 2, 2}, std::string(41, '\0')), kTenLabels);
       },
       "images", "1 unexpected bytes after the data"},
      {"IdxLabelCountMismatch",
       [](const TemporaryDirectory& d) {
         return LoadIdxFiles(d, IdxBytes(0x08, {10, 2, 2}, std::string(40, '\0')),
                             IdxBytes(0x08, {9}, std::string(9, '\0')));
       },
       "images", "has 10 images but"},
      {"IdxLabelsOfRankTwo",
       [](const TemporaryDirectory& d) {
         return LoadIdxFiles(d, IdxBytes(0x08, {10, 2, 2}, std::string(40, '\0')),
                             IdxBytes(0x08, {10, 1}, std::string(10, '\0')));
       },
       "labels", "IDX rank 2 for labels, expected 1"},
      {"IdxHugeShape",
       [](const TemporaryDirectory& d) {
         return LoadIdxFiles(d, IdxBytes(0x08, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, ""), kTenLabels);
       },
       "images", "implausibly large"},
      {"NpyBadMagic",
       [](const TemporaryDirectory& d) { return LoadNpyFiles(d, "NUMPY\1 not really", kGoodNpyLabels); }, "x.npy",
       "not an NPY file"},
      {"NpyFortranOrder",
       [](const TemporaryDirectory& d) {
         return LoadNpyFiles(d, NpyBytes("|u1", {2, 2, 2}, std::string(8, '\0'), true), kGoodNpyLabels);
       },
       "x.npy", "fortran_order is True"},
      {"NpyUnsupportedDtype",
       [](const TemporaryDirectory& d) {
         return LoadNpyFiles(d, NpyBytes("<f8", {2, 2, 2}, std::string(64, '\0')), kGoodNpyLabels);
       },
       "x.npy", "unsupported dtype '<f8' for images"},
      {"NpyFloatLabels",
       [](const TemporaryDirectory& d) {
         return LoadNpyFiles(d, NpyBytes("|u1", {2, 2, 2}, std::string(8, '\0')),
                             NpyBytes("<f4", {2}, std::string(8, '\0')));
       },
       "y.npy", "unsupported dtype '<f4' for labels"},
      {"NpyBadHeader",
       [](const TemporaryDirectory& d) {
         std::string bytes = NpyBytes("|u1", {2, 2, 2}, std::string(8, '\0'));
         bytes.replace(bytes.find("'shape'"), 7, "'shope'");
         return LoadNpyFiles(d, bytes, kGoodNpyLabels);
       },
       "x.npy", "bad NPY header: unknown key 'shope'"},
      {"NpyHeaderLongerThanFile",
       [](const TemporaryDirectory& d) {
         return LoadNpyFiles(d, NpyBytes("|u1", {2, 2, 2}, "").substr(0, 30), kGoodNpyLabels);
       },
       "x.npy", "header bytes but 20 remain"},
      {"NpyTruncatedData",
       [](const TemporaryDirectory& d) {
         return LoadNpyFiles(d, NpyBytes("<f4", {2, 2, 2}, std::string(12, '\0')), kGoodNpyLabels);
       },
       "x.npy", "truncated: shape (2x2x2) of '<f4' needs 32 bytes but 12 remain"},
      {"NpyFloatOutsideUnitRange",
       [](const TemporaryDirectory& d) {
         std::vector<float> values(8, 0.5f);
         values[5] = 255.0f;
         return LoadNpyFiles(d, NpyBytes("<f4", {2, 2, 2}, RawBytes(values)), kGoodNpyLabels);
       },
       "x.npy", "of sample 1 is outside [0, 1]"},
      {"NpyNegativeLabel",
       [](const TemporaryDirectory& d) {
         std::vector<int64_t> labels = {1, -3};
         return LoadNpyFiles(d, NpyBytes("|u1", {2, 2, 2}, std::string(8, '\0')),
                             NpyBytes("<i8", {2}, RawBytes(labels)));
       },
       "y.npy", "label -3 of sample 1 is negative"},
      {"NpyCountMismatch",
       [](const TemporaryDirectory& d) {
         return LoadNpyFiles(d, NpyBytes("|u1", {3, 2, 2}, std::string(12, '\0')), kGoodNpyLabels);
       },
       "x.npy", "has 3 images but"},
      {"CsvRaggedRow", [](const TemporaryDirectory& d) { return LoadCsvText(d, "1,2,3,4\n0,5,6\n"); }, "d.csv",
       "line 2: 3 columns, expected 4"},
      {"CsvValue300", [](const TemporaryDirectory& d) { return LoadCsvText(d, "h,a,b,c\n1,2,3,4\n0,5,300,7\n"); },
       "d.csv", "line 3, column 3: value 300 is outside 0..255"},
      {"CsvNotANumber", [](const TemporaryDirectory& d) { return LoadCsvText(d, "1,2,3,4\n0,5,abc,7\n"); }, "d.csv",
       "line 2, column 3: 'abc' is not an integer"},
      {"CsvNegativeLabel", [](const TemporaryDirectory& d) { return LoadCsvText(d, "-1,2,3,4\n"); }, "d.csv",
       "line 1, column 1: label -1 is negative"},
      {"CsvOnlyAHeader", [](const TemporaryDirectory& d) { return LoadCsvText(d, "label,a,b,c\n"); }, "d.csv",
       "holds no samples"},
      {"MissingFile", [](const TemporaryDirectory& d) { return LoadIdx(d.File("nowhere"), d.File("labels")).status(); },
       "nowhere", "cannot open"},
  };
}

// Test names already say which case failed; keep gtest from dumping bytes.
void PrintTo(const MalformedCase& c, std::ostream* out) { *out << c.name; }

class MalformedInput : public testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedInput, IsAnErrorNamingTheFileAndTheFault) {
  TemporaryDirectory dir;
  const MalformedCase& c = GetParam();

  Status status = c.load(dir);

  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(c.expected), std::string::npos) << status.message();
  EXPECT_NE(status.message().find(dir.File(c.file)), std::string::npos) << status.message();
}

INSTANTIATE_TEST_SUITE_P(Loaders, MalformedInput, testing::ValuesIn(MalformedCases()),
                         [](const testing::TestParamInfo<MalformedCase>& info) { return info.param.name; });

TEST(Dataset, TruncateKeepsTheFirstSamplesInBothViews) {
  Dataset dataset;
  dataset.height = 1;
  dataset.width = 2;
  dataset.channels = 1;
  dataset.pixels = {1, 2, 3, 4, 5, 6};
  dataset.images = {1, 2, 3, 4, 5, 6};
  dataset.labels = {0, 1, 0};

  dataset.Truncate(2);

  EXPECT_EQ(dataset.size(), 2);
  EXPECT_EQ(dataset.pixels, (std::vector<uint8_t>{1, 2, 3, 4}));
  EXPECT_EQ(dataset.images.size(), 4u);
}

}  // namespace
}  // namespace qatlab
