#include "data/dataset.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>

#include <zlib.h>

#include "data/fashion_mnist.h"
#include "data/mnist.h"
#include "qatlab/v1/job.pb.h"

namespace qatlab {

// NPY data is little-endian; the loaders copy it as is.
static_assert(std::endian::native == std::endian::little, "the NPY loader assumes a little-endian host");

void Dataset::ImageAsFloats(int i, float* out) const {
  const size_t values = sample_size();
  if (has_pixels()) {
    const uint8_t* in = pixel_image(i);
    for (size_t k = 0; k < values; ++k) out[k] = in[k] / 255.0f;
  } else {
    const float* in = float_image(i);
    std::copy(in, in + values, out);
  }
}

void Dataset::ImagesAsFloats(int begin, int n, float* out) const {
  for (int i = 0; i < n; ++i) ImageAsFloats(begin + i, out + static_cast<size_t>(i) * sample_size());
}

size_t Dataset::memory_bytes() const {
  return pixels.capacity() * sizeof(uint8_t) + float_pixels.capacity() * sizeof(float) +
         labels.capacity() * sizeof(int32_t);
}

void Dataset::Truncate(int n) {
  if (n >= size()) return;
  const size_t values = static_cast<size_t>(n) * sample_size();
  labels.resize(n);
  labels.shrink_to_fit();
  if (has_pixels()) {
    pixels.resize(values);
    pixels.shrink_to_fit();
  } else {
    float_pixels.resize(values);
    float_pixels.shrink_to_fit();
  }
}

namespace {

// A sample is at most this many values (e.g. 1024x1024x16); larger shapes in
// a header are treated as corruption rather than as an allocation request.
constexpr uint64_t kMaxSampleSize = uint64_t{1} << 24;

// A data file read in parts: its header first, then only the samples that
// are kept, straight into the data set's own vectors (no whole-file copy).
// A gzip-compressed file (magic 0x1F8B) is inflated into memory once when it
// is opened and then read like any other: its size and offsets are those of
// the decompressed content, so the format parsers never see the compression.
class InputFile {
 public:
  static StatusOr<InputFile> Open(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::NotFound(path + ": cannot open (missing or unreadable)");
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    if (!in || size < 0) return Status::IOError(path + ": read failed");
    InputFile file(path, std::move(in), static_cast<uint64_t>(size));
    if (file.size_ >= 2) {
      QATLAB_ASSIGN_OR_RETURN(const std::string magic, file.ReadString(0, 2));
      if (magic == "\x1f\x8b") QATLAB_RETURN_IF_ERROR(file.Inflate());
    }
    return file;
  }

  uint64_t size() const { return size_; }

  // Reads n bytes at offset into out.
  // REQUIRES: offset + n <= size()
  Status Read(uint64_t offset, size_t n, void* out) {
    if (inflated_) {
      std::memcpy(out, inflated_->data() + offset, n);
      return Status::Ok();
    }
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(static_cast<char*>(out), static_cast<std::streamsize>(n));
    if (!in_ || static_cast<size_t>(in_.gcount()) != n) return Status::IOError(path_ + ": read failed");
    return Status::Ok();
  }
  StatusOr<std::string> ReadString(uint64_t offset, size_t n) {
    std::string bytes(n, '\0');
    QATLAB_RETURN_IF_ERROR(Read(offset, n, bytes.data()));
    return bytes;
  }

 private:
  InputFile(std::string path, std::ifstream in, uint64_t size)
      : path_(std::move(path)), in_(std::move(in)), size_(size) {}

  // Replaces the file's view by its gzip-decompressed content. One gzip
  // member; bytes after it are corruption, and so is content beyond
  // kMaxInflatedBytes (a small file that inflates without bound).
  Status Inflate();

  std::string path_;
  std::ifstream in_;
  uint64_t size_;
  std::optional<std::string> inflated_;  // set for a gzip-compressed file
};

// A decompressed data file is held whole in memory: 4 GiB is far above any
// data set the loaders take (60,000 28x28 images: 47 MB).
constexpr uint64_t kMaxInflatedBytes = uint64_t{4} << 30;

Status InputFile::Inflate() {
  if (size_ > kMaxInflatedBytes) {
    return Status::InvalidArgument(path_ + ": a gzip-compressed file of " + std::to_string(size_) +
                                   " bytes is more than supported");
  }
  QATLAB_ASSIGN_OR_RETURN(const std::string compressed, ReadString(0, size_));
  z_stream stream{};
  // 16 + MAX_WBITS: a gzip header and trailer, not a zlib one.
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) return Status::Internal(path_ + ": zlib inflateInit2 failed");
  std::string out;
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  int result = Z_OK;
  constexpr size_t kChunk = size_t{1} << 20;
  while (result == Z_OK) {
    if (out.size() >= kMaxInflatedBytes) {
      inflateEnd(&stream);
      return Status::Corruption(path_ + ": decompresses to more than " + std::to_string(kMaxInflatedBytes) + " bytes");
    }
    const size_t before = out.size();
    out.resize(before + kChunk);
    stream.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    stream.avail_out = static_cast<uInt>(kChunk);
    result = inflate(&stream, Z_NO_FLUSH);
    out.resize(before + kChunk - stream.avail_out);
    if (result == Z_BUF_ERROR && stream.avail_in == 0) break;  // input ended inside the stream
    if (result == Z_BUF_ERROR) result = Z_OK;                  // output was full: go on
  }
  const uInt left_over = stream.avail_in;
  const std::string zlib_message = stream.msg != nullptr ? stream.msg : "";
  inflateEnd(&stream);
  if (result != Z_STREAM_END) {
    return Status::Corruption(path_ + ": gzip data " +
                              (zlib_message.empty() ? std::string("end before the compressed stream does (truncated)")
                                                    : "is corrupt (" + zlib_message + ")"));
  }
  if (left_over != 0) {
    return Status::Corruption(path_ + ": " + std::to_string(left_over) + " unexpected bytes after the gzip stream");
  }
  size_ = out.size();
  inflated_ = std::move(out);
  return Status::Ok();
}

// With limit > 0, the first min(count, limit) samples; else all of them.
uint64_t KeptCount(uint64_t count, int limit) {
  return limit > 0 ? std::min<uint64_t>(count, static_cast<uint64_t>(limit)) : count;
}

std::string ShapeText(const std::vector<uint64_t>& dims, size_t first) {
  std::string text;
  for (size_t i = first; i < dims.size(); ++i) {
    if (i > first) text += "x";
    text += std::to_string(dims[i]);
  }
  return text;
}

// A flat sample of `size` values becomes sqrt x sqrt x 1 when size is a
// perfect square (784 -> 28x28), else 1 x size x 1.
void ShapeForFlatSample(int size, int& height, int& width, int& channels) {
  int side = static_cast<int>(std::lround(std::sqrt(static_cast<double>(size))));
  if (side * side == size) {
    height = side;
    width = side;
  } else {
    height = 1;
    width = size;
  }
  channels = 1;
}

// Product of dims, or an error when it overflows or exceeds limit.
StatusOr<uint64_t> CheckedProduct(const std::string& path, const std::vector<uint64_t>& dims, size_t first,
                                  uint64_t limit) {
  uint64_t product = 1;
  for (size_t i = first; i < dims.size(); ++i) {
    if (dims[i] != 0 && product > limit / dims[i]) {
      return Status::Corruption(path + ": shape " + ShapeText(dims, 0) + " is implausibly large");
    }
    product *= dims[i];
  }
  return product;
}

// Sets the max-label-based class count; labels must already be >= 0.
void SetClassCountFromLabels(Dataset& dataset) {
  int32_t max_label = -1;
  for (int32_t label : dataset.labels) max_label = std::max(max_label, label);
  dataset.num_classes = max_label + 1;
}

Status CheckCounts(const std::string& images_path, size_t images, const std::string& labels_path, size_t labels) {
  if (images == 0) return Status::InvalidArgument(images_path + ": holds no samples");
  if (images > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return Status::InvalidArgument(images_path + ": " + std::to_string(images) + " samples is more than supported");
  }
  if (images != labels) {
    return Status::InvalidArgument(images_path + " has " + std::to_string(images) + " images but " + labels_path +
                                   " has " + std::to_string(labels) + " labels");
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- IDX

struct IdxArray {
  std::vector<uint64_t> dims;
  InputFile file;
  uint64_t data_offset = 0;  // where the dims[0] * ... values start
};

// Parses and checks an IDX header, and that the file holds exactly the data
// it describes; the data itself is left for the caller to read. `what` names
// the samples in messages ("images", "labels"). Only element type 0x08
// (unsigned byte) is read.
StatusOr<IdxArray> ReadIdx(const std::string& path, int min_rank, int max_rank, const char* what) {
  QATLAB_ASSIGN_OR_RETURN(InputFile file, InputFile::Open(path));
  const uint64_t file_size = file.size();
  if (file_size < 4) {
    return Status::Corruption(path + ": truncated: " + std::to_string(file_size) +
                              " bytes, too short for an IDX header");
  }
  // The longest header: 4 bytes, then 255 dimensions of 4 bytes.
  QATLAB_ASSIGN_OR_RETURN(const std::string b, file.ReadString(0, std::min<uint64_t>(file_size, 4 + 4 * 255)));
  IdxArray array{{}, std::move(file), 0};
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(b[i]); };
  if (byte(0) != 0 || byte(1) != 0) {
    char magic[16];
    std::snprintf(magic, sizeof magic, "0x%02X%02X%02X%02X", byte(0), byte(1), byte(2), byte(3));
    return Status::Corruption(path + ": not an IDX file (magic " + magic + ", expected 0x000008NN)");
  }
  if (byte(2) != 0x08) {
    char type[8];
    std::snprintf(type, sizeof type, "0x%02X", byte(2));
    return Status::InvalidArgument(path + ": unsupported IDX element type " + type +
                                   " (only 0x08, unsigned byte, is supported)");
  }
  const int rank = byte(3);
  if (rank < min_rank || rank > max_rank) {
    return Status::InvalidArgument(path + ": IDX rank " + std::to_string(rank) + " for " + what + ", expected " +
                                   (min_rank == max_rank
                                        ? std::to_string(min_rank)
                                        : std::to_string(min_rank) + " or " + std::to_string(max_rank)));
  }
  array.data_offset = 4 + 4 * static_cast<uint64_t>(rank);
  if (file_size < array.data_offset) {
    return Status::Corruption(path + ": truncated: IDX header of rank " + std::to_string(rank) + " needs " +
                              std::to_string(array.data_offset) + " bytes but the file has " +
                              std::to_string(file_size));
  }
  for (int d = 0; d < rank; ++d) {
    size_t at = 4 + 4 * static_cast<size_t>(d);
    array.dims.push_back((uint64_t{byte(at)} << 24) | (uint64_t{byte(at + 1)} << 16) | (uint64_t{byte(at + 2)} << 8) |
                         uint64_t{byte(at + 3)});
  }
  for (size_t d = 1; d < array.dims.size(); ++d) {
    if (array.dims[d] == 0)
      return Status::Corruption(path + ": shape " + ShapeText(array.dims, 0) + " has a zero dimension");
  }
  QATLAB_RETURN_IF_ERROR(CheckedProduct(path, array.dims, 1, kMaxSampleSize).status());
  QATLAB_ASSIGN_OR_RETURN(const uint64_t total,
                          CheckedProduct(path, array.dims, 0, std::numeric_limits<uint64_t>::max() / 2));
  const uint64_t remaining = file_size - array.data_offset;
  if (remaining < total) {
    std::string described = std::to_string(array.dims[0]) + " " + what;
    if (rank > 1) described += " of " + ShapeText(array.dims, 1);
    return Status::Corruption(path + ": truncated: header says " + described + " (" + std::to_string(total) +
                              " bytes) but " + std::to_string(remaining) + " remain");
  }
  if (remaining > total) {
    return Status::Corruption(path + ": " + std::to_string(remaining - total) +
                              " unexpected bytes after the data the header describes (" + std::to_string(total) +
                              " bytes)");
  }
  return array;
}

// ---------------------------------------------------------------- NPY

enum class NpyType { kUint8, kInt32, kInt64, kFloat32 };

struct NpyArray {
  NpyType type = NpyType::kUint8;
  std::vector<uint64_t> shape;
  InputFile file;
  uint64_t data_offset = 0;  // where the array data starts
};

// A reader for the Python dict literal in an NPY header, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 28, 28), }
class NpyHeaderParser {
 public:
  explicit NpyHeaderParser(std::string_view text) : text_(text) {}

  // Fills descr, fortran_order and shape; false (with error()) on bad syntax
  // or a missing key.
  bool Parse(std::string& descr, bool& fortran_order, std::vector<uint64_t>& shape) {
    bool have_descr = false, have_order = false, have_shape = false;
    if (!Expect('{')) return false;
    for (;;) {
      SkipSpace();
      if (Peek() == '}') break;
      std::string key;
      if (!ParseString(key) || !Expect(':')) return false;
      SkipSpace();
      if (key == "descr") {
        if (!ParseString(descr)) return false;
        have_descr = true;
      } else if (key == "fortran_order") {
        if (!ParseBool(fortran_order)) return false;
        have_order = true;
      } else if (key == "shape") {
        if (!ParseTuple(shape)) return false;
        have_shape = true;
      } else {
        return Fail("unknown key '" + key + "'");
      }
      SkipSpace();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == '}') break;
      return Fail("expected ',' or '}'");
    }
    if (!have_descr) return Fail("no 'descr'");
    if (!have_order) return Fail("no 'fortran_order'");
    if (!have_shape) return Fail("no 'shape'");
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n')) ++pos_;
  }
  bool Fail(std::string message) {
    error_ = std::move(message) + " at offset " + std::to_string(pos_);
    return false;
  }
  bool Expect(char c) {
    SkipSpace();
    if (Peek() != c) return Fail(std::string("expected '") + c + "'");
    ++pos_;
    return true;
  }
  bool ParseString(std::string& out) {
    char quote = Peek();
    if (quote != '\'' && quote != '"') return Fail("expected a quoted string");
    size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) return Fail("unterminated string");
    out = std::string(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return true;
  }
  bool ParseBool(bool& out) {
    if (text_.substr(pos_, 4) == "True") {
      out = true;
      pos_ += 4;
    } else if (text_.substr(pos_, 5) == "False") {
      out = false;
      pos_ += 5;
    } else {
      return Fail("expected True or False");
    }
    return true;
  }
  bool ParseTuple(std::vector<uint64_t>& out) {
    if (!Expect('(')) return false;
    for (;;) {
      SkipSpace();
      if (Peek() == ')') {
        ++pos_;
        return true;
      }
      uint64_t value = 0;
      auto [end, error] = std::from_chars(text_.data() + pos_, text_.data() + text_.size(), value);
      if (error != std::errc()) return Fail("expected a dimension");
      pos_ = static_cast<size_t>(end - text_.data());
      out.push_back(value);
      SkipSpace();
      if (Peek() == ',') {
        ++pos_;
      } else if (Peek() != ')') {
        return Fail("expected ',' or ')'");
      }
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

size_t ItemSize(NpyType type) {
  switch (type) {
    case NpyType::kUint8: return 1;
    case NpyType::kInt32: return 4;
    case NpyType::kFloat32: return 4;
    case NpyType::kInt64: return 8;
  }
  return 1;
}

// Parses and checks the header of an NPY file whose dtype must be one of
// `accepted` (messages list `accepted_text`) and whose rank is in
// [min_rank, max_rank], and that the file holds exactly the data it
// describes; the data itself is left for the caller to read.
StatusOr<NpyArray> ReadNpy(const std::string& path, std::initializer_list<NpyType> accepted, const char* accepted_text,
                           size_t min_rank, size_t max_rank, const char* what) {
  QATLAB_ASSIGN_OR_RETURN(InputFile file, InputFile::Open(path));
  const uint64_t file_size = file.size();
  // The fixed part: magic, version, header length (2 or 4 bytes).
  QATLAB_ASSIGN_OR_RETURN(const std::string b, file.ReadString(0, std::min<uint64_t>(file_size, 12)));
  NpyArray array{NpyType::kUint8, {}, std::move(file), 0};
  static constexpr char kMagic[] = "\x93NUMPY";
  if (b.size() < 6 || std::memcmp(b.data(), kMagic, 6) != 0) {
    return Status::Corruption(path + ": not an NPY file (bad magic; expected \\x93NUMPY)");
  }
  if (b.size() < 10) return Status::Corruption(path + ": truncated: NPY header incomplete");
  const int major = static_cast<uint8_t>(b[6]);
  size_t header_length = 0;
  size_t header_start = 0;
  if (major == 1) {
    header_length = static_cast<uint8_t>(b[8]) | (size_t{static_cast<uint8_t>(b[9])} << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (b.size() < 12) return Status::Corruption(path + ": truncated: NPY header incomplete");
    for (int i = 3; i >= 0; --i) header_length = (header_length << 8) | static_cast<uint8_t>(b[8 + i]);
    header_start = 12;
  } else {
    return Status::InvalidArgument(path + ": unsupported NPY format version " + std::to_string(major));
  }
  if (header_length > file_size - header_start) {
    return Status::Corruption(path + ": truncated: NPY header says " + std::to_string(header_length) +
                              " header bytes but " + std::to_string(file_size - header_start) + " remain");
  }
  QATLAB_ASSIGN_OR_RETURN(const std::string header, array.file.ReadString(header_start, header_length));
  std::string descr;
  bool fortran_order = false;
  NpyHeaderParser parser(header);
  if (!parser.Parse(descr, fortran_order, array.shape)) {
    return Status::Corruption(path + ": bad NPY header: " + parser.error());
  }
  if (fortran_order) {
    return Status::InvalidArgument(path +
                                   ": fortran_order is True; only C-order arrays are supported "
                                   "(save np.ascontiguousarray(a))");
  }
  NpyType type;
  if (descr == "|u1" || descr == "<u1" || descr == "u1") {
    type = NpyType::kUint8;
  } else if (descr == "<i4") {
    type = NpyType::kInt32;
  } else if (descr == "<i8") {
    type = NpyType::kInt64;
  } else if (descr == "<f4") {
    type = NpyType::kFloat32;
  } else {
    return Status::InvalidArgument(path + ": unsupported dtype '" + descr + "' for " + what +
                                   " (supported: " + accepted_text + ")");
  }
  if (std::find(accepted.begin(), accepted.end(), type) == accepted.end()) {
    return Status::InvalidArgument(path + ": unsupported dtype '" + descr + "' for " + what +
                                   " (supported: " + accepted_text + ")");
  }
  array.type = type;
  if (array.shape.size() < min_rank || array.shape.size() > max_rank) {
    return Status::InvalidArgument(path + ": shape (" + ShapeText(array.shape, 0) + ") has rank " +
                                   std::to_string(array.shape.size()) + "; " + what + " need rank " +
                                   std::to_string(min_rank) +
                                   (min_rank == max_rank ? "" : " to " + std::to_string(max_rank)));
  }
  for (size_t d = 1; d < array.shape.size(); ++d) {
    if (array.shape[d] == 0) return Status::Corruption(path + ": shape has a zero dimension");
  }
  QATLAB_RETURN_IF_ERROR(CheckedProduct(path, array.shape, 1, kMaxSampleSize).status());
  QATLAB_ASSIGN_OR_RETURN(const uint64_t count,
                          CheckedProduct(path, array.shape, 0, std::numeric_limits<uint64_t>::max() / 16));
  array.data_offset = header_start + header_length;
  const uint64_t expected = count * ItemSize(type);
  const uint64_t remaining = file_size - array.data_offset;
  if (remaining < expected) {
    return Status::Corruption(path + ": truncated: shape (" + ShapeText(array.shape, 0) + ") of '" + descr +
                              "' needs " + std::to_string(expected) + " bytes but " + std::to_string(remaining) +
                              " remain");
  }
  if (remaining > expected) {
    return Status::Corruption(path + ": " + std::to_string(remaining - expected) +
                              " unexpected bytes after the array data");
  }
  return array;
}

template <typename T>
T LoadLittleEndian(const char* at) {
  T value;
  std::memcpy(&value, at, sizeof value);
  return value;
}

// ---------------------------------------------------------------- CSV

std::string_view Trim(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(" \t");
  return text.substr(begin, end - begin + 1);
}

bool ParseInt(std::string_view field, int64_t& value) {
  if (!field.empty() && field.front() == '+') field.remove_prefix(1);
  auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), value);
  return error == std::errc() && end == field.data() + field.size() && !field.empty();
}

std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t begin = 0;
  for (;;) {
    size_t comma = line.find(',', begin);
    fields.push_back(
        Trim(line.substr(begin, comma == std::string_view::npos ? std::string_view::npos : comma - begin)));
    if (comma == std::string_view::npos) break;
    begin = comma + 1;
  }
  return fields;
}

// Where a data set's paths come from, for messages: "data.train_images".
Status RequirePath(const std::string& value, const char* field, const std::string& source) {
  if (value.empty()) {
    return Status::InvalidArgument("data." + std::string(field) + " is empty; source '" + source + "' needs it");
  }
  return Status::Ok();
}

std::string BaseName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

StatusOr<Dataset> LoadIdx(const std::string& images_path, const std::string& labels_path, int limit) {
  QATLAB_ASSIGN_OR_RETURN(IdxArray images, ReadIdx(images_path, 3, 4, "images"));
  QATLAB_ASSIGN_OR_RETURN(IdxArray labels, ReadIdx(labels_path, 1, 1, "labels"));
  QATLAB_RETURN_IF_ERROR(CheckCounts(images_path, images.dims[0], labels_path, labels.dims[0]));
  const uint64_t kept = KeptCount(images.dims[0], limit);

  Dataset dataset;
  dataset.height = static_cast<int>(images.dims[1]);
  dataset.width = static_cast<int>(images.dims[2]);
  dataset.channels = images.dims.size() == 4 ? static_cast<int>(images.dims[3]) : 1;
  dataset.pixels.resize(kept * dataset.sample_size());
  QATLAB_RETURN_IF_ERROR(images.file.Read(images.data_offset, dataset.pixels.size(), dataset.pixels.data()));
  QATLAB_ASSIGN_OR_RETURN(const std::string label_bytes, labels.file.ReadString(labels.data_offset, kept));
  dataset.labels.reserve(kept);
  for (char label : label_bytes) dataset.labels.push_back(static_cast<uint8_t>(label));
  SetClassCountFromLabels(dataset);
  return dataset;
}

namespace {

// Checks that every float32 value from `first_value` on lies in [0, 1],
// reading the file in slices so that values the data set does not keep are
// checked without being held.
Status CheckFloatsBeyondKept(NpyArray& images, const std::string& path, uint64_t first_value, uint64_t values,
                             int sample_size) {
  constexpr uint64_t kSliceValues = 1 << 16;
  std::vector<float> slice;
  for (uint64_t begin = first_value; begin < values; begin += kSliceValues) {
    slice.resize(std::min(kSliceValues, values - begin));
    QATLAB_RETURN_IF_ERROR(
        images.file.Read(images.data_offset + begin * sizeof(float), slice.size() * sizeof(float), slice.data()));
    for (size_t k = 0; k < slice.size(); ++k) {
      const float v = slice[k];
      if (!(v >= 0.0f && v <= 1.0f)) {
        return Status::InvalidArgument(path + ": value " + std::to_string(v) + " of sample " +
                                       std::to_string((begin + k) / sample_size) +
                                       " is outside [0, 1] (float32 images must be scaled to [0, 1])");
      }
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<Dataset> LoadNpy(const std::string& images_path, const std::string& labels_path, int limit) {
  QATLAB_ASSIGN_OR_RETURN(NpyArray images,
                          ReadNpy(images_path, {NpyType::kUint8, NpyType::kFloat32}, "'|u1', '<f4'", 2, 4, "images"));
  QATLAB_ASSIGN_OR_RETURN(NpyArray labels, ReadNpy(labels_path, {NpyType::kUint8, NpyType::kInt32, NpyType::kInt64},
                                                   "'|u1', '<i4', '<i8'", 1, 1, "labels"));
  QATLAB_RETURN_IF_ERROR(CheckCounts(images_path, images.shape[0], labels_path, labels.shape[0]));

  Dataset dataset;
  const std::vector<uint64_t>& shape = images.shape;
  if (shape.size() == 2) {
    ShapeForFlatSample(static_cast<int>(shape[1]), dataset.height, dataset.width, dataset.channels);
  } else {
    dataset.height = static_cast<int>(shape[1]);
    dataset.width = static_cast<int>(shape[2]);
    dataset.channels = shape.size() == 4 ? static_cast<int>(shape[3]) : 1;
  }
  const uint64_t count = shape[0];
  const uint64_t kept = KeptCount(count, limit);
  const size_t kept_values = static_cast<size_t>(kept) * dataset.sample_size();
  if (images.type == NpyType::kUint8) {
    dataset.pixels.resize(kept_values);
    QATLAB_RETURN_IF_ERROR(images.file.Read(images.data_offset, kept_values, dataset.pixels.data()));
  } else {
    dataset.float_pixels.resize(kept_values);
    QATLAB_RETURN_IF_ERROR(
        images.file.Read(images.data_offset, kept_values * sizeof(float), dataset.float_pixels.data()));
    for (size_t i = 0; i < kept_values; ++i) {
      float v = dataset.float_pixels[i];
      if (!(v >= 0.0f && v <= 1.0f)) {
        return Status::InvalidArgument(images_path + ": value " + std::to_string(v) + " of sample " +
                                       std::to_string(i / dataset.sample_size()) +
                                       " is outside [0, 1] (float32 images must be scaled to [0, 1])");
      }
    }
    QATLAB_RETURN_IF_ERROR(
        CheckFloatsBeyondKept(images, images_path, kept_values, count * dataset.sample_size(), dataset.sample_size()));
  }

  // Labels are small: all of them are read and checked, the first `kept` kept.
  QATLAB_ASSIGN_OR_RETURN(const std::string label_bytes,
                          labels.file.ReadString(labels.data_offset, count * ItemSize(labels.type)));
  const char* label_data = label_bytes.data();
  dataset.labels.reserve(kept);
  for (uint64_t i = 0; i < count; ++i) {
    int64_t label = 0;
    switch (labels.type) {
      case NpyType::kUint8: label = static_cast<uint8_t>(label_data[i]); break;
      case NpyType::kInt32: label = LoadLittleEndian<int32_t>(label_data + 4 * i); break;
      case NpyType::kInt64: label = LoadLittleEndian<int64_t>(label_data + 8 * i); break;
      case NpyType::kFloat32: break;  // rejected by ReadNpy
    }
    if (label < 0 || label > std::numeric_limits<int32_t>::max()) {
      return Status::InvalidArgument(labels_path + ": label " + std::to_string(label) + " of sample " +
                                     std::to_string(i) + " is negative or too large");
    }
    if (i < kept) dataset.labels.push_back(static_cast<int32_t>(label));
  }
  SetClassCountFromLabels(dataset);
  return dataset;
}

StatusOr<Dataset> LoadCsv(const std::string& path, int height, int width, int channels, int limit) {
  const bool infer_shape = height == 0 && width == 0 && channels == 0;
  if (!infer_shape && (height <= 0 || width <= 0 || channels <= 0 ||
                       static_cast<uint64_t>(height) * width * channels > kMaxSampleSize)) {
    return Status::InvalidArgument(path + ": CSV shape " + std::to_string(height) + "x" + std::to_string(width) + "x" +
                                   std::to_string(channels) + " is invalid");
  }
  // Read a line at a time: the text of a CSV is several times the size of
  // the pixels it describes.
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(path + ": cannot open (missing or unreadable)");

  Dataset dataset;
  size_t expected_columns = infer_shape ? 0 : 1 + static_cast<size_t>(height) * width * channels;
  if (!infer_shape) {
    dataset.height = height;
    dataset.width = width;
    dataset.channels = channels;
  }
  int line_number = 0;
  int samples = 0;
  bool seen_first_line = false;
  std::string line_text;
  while (std::getline(in, line_text)) {
    std::string_view line(line_text);
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (Trim(line).empty()) continue;
    std::vector<std::string_view> fields = SplitFields(line);
    // Messages are built only on the error paths: this loop runs per pixel.
    auto where = [&] { return path + ": line " + std::to_string(line_number); };
    int64_t value = 0;
    if (!seen_first_line) {
      seen_first_line = true;
      if (!ParseInt(fields[0], value)) continue;  // a header line
    }
    // The shape is inferred from the first line of data (after any header).
    if (expected_columns == 0) {
      if (fields.size() < 2) return Status::InvalidArgument(where() + ": a label but no pixel values");
      if (fields.size() - 1 > kMaxSampleSize) {
        return Status::InvalidArgument(where() + ": " + std::to_string(fields.size() - 1) +
                                       " pixel values is more than supported");
      }
      expected_columns = fields.size();
      ShapeForFlatSample(static_cast<int>(fields.size() - 1), dataset.height, dataset.width, dataset.channels);
    }
    if (fields.size() != expected_columns) {
      return Status::InvalidArgument(where() + ": " + std::to_string(fields.size()) + " columns, expected " +
                                     std::to_string(expected_columns) + " (a label and " +
                                     std::to_string(dataset.height) + "x" + std::to_string(dataset.width) + "x" +
                                     std::to_string(dataset.channels) + " pixel values)");
    }
    // Lines past the limit are checked like the others but not kept.
    const bool keep = limit <= 0 || samples < limit;
    ++samples;
    for (size_t column = 0; column < fields.size(); ++column) {
      auto at = [&] { return where() + ", column " + std::to_string(column + 1); };
      if (!ParseInt(fields[column], value)) {
        return Status::InvalidArgument(at() + ": '" + std::string(fields[column]) + "' is not an integer");
      }
      if (column == 0) {
        if (value < 0 || value > std::numeric_limits<int32_t>::max()) {
          return Status::InvalidArgument(at() + ": label " + std::to_string(value) + " is negative or too large");
        }
        if (keep) dataset.labels.push_back(static_cast<int32_t>(value));
      } else {
        if (value < 0 || value > 255) {
          return Status::InvalidArgument(at() + ": value " + std::to_string(value) + " is outside 0..255");
        }
        if (keep) dataset.pixels.push_back(static_cast<uint8_t>(value));
      }
    }
  }
  if (in.bad()) return Status::IOError(path + ": read failed");
  if (dataset.labels.empty()) return Status::InvalidArgument(path + ": holds no samples");
  dataset.pixels.shrink_to_fit();
  dataset.labels.shrink_to_fit();
  SetClassCountFromLabels(dataset);
  return dataset;
}

StatusOr<DatasetPair> LoadDataset(const v1::DataSpec& spec, const std::string& cache_dir) {
  const std::string source = spec.source().empty() ? "mnist" : spec.source();
  if (spec.train_limit() < 0 || spec.test_limit() < 0) {
    return Status::InvalidArgument("data.train_limit and data.test_limit must be >= 0");
  }
  if (spec.num_classes() < 0) return Status::InvalidArgument("data.num_classes must be >= 0");

  DatasetPair pair;
  StatusOr<Dataset> train = Status::Internal("unset");
  StatusOr<Dataset> test = Status::Internal("unset");
  if (source == "mnist") {
    QATLAB_ASSIGN_OR_RETURN(const std::string directory,
                            EnsureMnist10k(cache_dir.empty() ? DefaultDataCacheDir() : cache_dir));
    train =
        LoadIdx(directory + "/" + kMnist10kFiles[0].name, directory + "/" + kMnist10kFiles[1].name, spec.train_limit());
    test =
        LoadIdx(directory + "/" + kMnist10kFiles[2].name, directory + "/" + kMnist10kFiles[3].name, spec.test_limit());
    pair.name = "mnist10k";
  } else if (source == "fashion-mnist") {
    const std::string directory = FashionMnistDir();
    QATLAB_RETURN_IF_ERROR(CheckFashionMnist(directory));
    train =
        LoadIdx(directory + "/" + kFashionMnistFiles[0], directory + "/" + kFashionMnistFiles[1], spec.train_limit());
    test = LoadIdx(directory + "/" + kFashionMnistFiles[2], directory + "/" + kFashionMnistFiles[3], spec.test_limit());
    pair.name = "fashion-mnist";
  } else if (source == "idx" || source == "npy") {
    QATLAB_RETURN_IF_ERROR(RequirePath(spec.train_images(), "train_images", source));
    QATLAB_RETURN_IF_ERROR(RequirePath(spec.train_labels(), "train_labels", source));
    QATLAB_RETURN_IF_ERROR(RequirePath(spec.test_images(), "test_images", source));
    QATLAB_RETURN_IF_ERROR(RequirePath(spec.test_labels(), "test_labels", source));
    auto load = source == "idx" ? LoadIdx : LoadNpy;
    train = load(spec.train_images(), spec.train_labels(), spec.train_limit());
    test = load(spec.test_images(), spec.test_labels(), spec.test_limit());
    pair.name = BaseName(spec.train_images());
  } else if (source == "csv") {
    QATLAB_RETURN_IF_ERROR(RequirePath(spec.train_images(), "train_images", source));
    QATLAB_RETURN_IF_ERROR(RequirePath(spec.test_images(), "test_images", source));
    int channels = spec.channels();
    if (channels == 0 && spec.height() > 0 && spec.width() > 0) channels = 1;
    train = LoadCsv(spec.train_images(), spec.height(), spec.width(), channels, spec.train_limit());
    test = LoadCsv(spec.test_images(), spec.height(), spec.width(), channels, spec.test_limit());
    pair.name = BaseName(spec.train_images());
  } else {
    return Status::InvalidArgument("data.source '" + source + "' is not one of mnist, fashion-mnist, idx, npy, csv");
  }
  QATLAB_ASSIGN_OR_RETURN(pair.train, std::move(train));
  QATLAB_ASSIGN_OR_RETURN(pair.test, std::move(test));

  // A stated shape is never ignored: a flat NPY takes it; an NPY or IDX file
  // whose own shape contradicts it is an error.
  if ((source == "npy" || source == "idx") && (spec.height() > 0 || spec.width() > 0 || spec.channels() > 0)) {
    if (spec.height() <= 0 || spec.width() <= 0) {
      return Status::InvalidArgument("data.height and data.width: give both (or neither)");
    }
    const int channels = spec.channels() > 0 ? spec.channels() : 1;
    const int64_t stated = int64_t{spec.height()} * spec.width() * channels;
    const std::string stated_text =
        std::to_string(spec.height()) + "x" + std::to_string(spec.width()) + "x" + std::to_string(channels);
    for (Dataset* dataset : {&pair.train, &pair.test}) {
      const bool same =
          dataset->height == spec.height() && dataset->width == spec.width() && dataset->channels == channels;
      const bool flat = dataset->height == 1 || dataset->height * dataset->height == dataset->sample_size();
      if (same) continue;
      if (source == "npy" && flat && dataset->sample_size() == stated) {
        dataset->height = spec.height();
        dataset->width = spec.width();
        dataset->channels = channels;
        continue;
      }
      return Status::InvalidArgument("data.height/width/channels: " + stated_text + " contradicts " +
                                     (dataset == &pair.train ? spec.train_images() : spec.test_images()) +
                                     ", whose images are " + std::to_string(dataset->height) + "x" +
                                     std::to_string(dataset->width) + "x" + std::to_string(dataset->channels));
    }
  }
  const Dataset& a = pair.train;
  const Dataset& b = pair.test;
  if (a.height != b.height || a.width != b.width || a.channels != b.channels) {
    return Status::InvalidArgument("training images are " + std::to_string(a.height) + "x" + std::to_string(a.width) +
                                   "x" + std::to_string(a.channels) + " but test images are " +
                                   std::to_string(b.height) + "x" + std::to_string(b.width) + "x" +
                                   std::to_string(b.channels));
  }
  int num_classes = spec.num_classes();
  if (num_classes == 0) {
    // Counted after the limits: the classes the job will actually see.
    SetClassCountFromLabels(pair.train);
    SetClassCountFromLabels(pair.test);
    num_classes = std::max(pair.train.num_classes, pair.test.num_classes);
    if (num_classes < 2) {
      return Status::InvalidArgument("the labels name only " + std::to_string(num_classes) +
                                     " class; a classifier needs at least 2");
    }
  } else {
    for (const Dataset* dataset : {&pair.train, &pair.test}) {
      for (int i = 0; i < dataset->size(); ++i) {
        if (dataset->labels[i] >= num_classes) {
          return Status::InvalidArgument(std::string(dataset == &pair.train ? "training" : "test") + " label " +
                                         std::to_string(dataset->labels[i]) + " of sample " + std::to_string(i) +
                                         " is out of range for data.num_classes = " + std::to_string(num_classes));
        }
      }
    }
  }
  pair.train.num_classes = num_classes;
  pair.test.num_classes = num_classes;
  return pair;
}

}  // namespace qatlab
