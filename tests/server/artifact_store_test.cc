// The content-addressed store: atomic writes, digest and size checks, limits.
#include "server/store/artifact_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_support.h"
#include "tests/support/temp_dir.h"

namespace qatlab::server {
namespace {

using test_support::TempDir;

std::string Bytes(size_t n, uint32_t seed) {
  std::string bytes(n, '\0');
  uint32_t x = seed;
  for (char& c : bytes) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return bytes;
}

size_t FilesUnder(const std::filesystem::path& dir) {
  size_t count = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) count += entry.is_regular_file();
  return count;
}

TEST(ArtifactStoreTest, StoresUnderItsDigestAndReadsBackInChunks) {
  TempDir dir;
  auto store = ArtifactStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  std::string data = Bytes(200'000, 1);
  std::string sha = Sha256Hex(data);
  auto writer = (*store)->BeginWrite(sha, static_cast<int64_t>(data.size()), 1 << 20);
  ASSERT_TRUE(writer.ok());
  for (size_t at = 0; at < data.size(); at += 30'000) {
    ASSERT_TRUE((*writer)->Append(std::string_view(data).substr(at, 30'000)).ok());
  }
  auto stored = (*writer)->Finish();
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(*stored, sha);
  EXPECT_TRUE((*store)->Contains(sha));
  EXPECT_EQ((*store)->PathOf(sha), (std::filesystem::path(dir.path()) / "blobs" / sha.substr(0, 2) / sha).string());

  std::vector<size_t> sizes;
  std::string back;
  ASSERT_TRUE((*store)
                  ->ReadChunks(sha, 65536,
                               [&](std::string_view piece) {
                                 sizes.push_back(piece.size());
                                 back.append(piece);
                                 return true;
                               })
                  .ok());
  EXPECT_EQ(back, data);
  EXPECT_EQ(sizes, (std::vector<size_t>{65536, 65536, 65536, 200'000 - 3 * 65536}));
}

TEST(ArtifactStoreTest, DigestMismatchStoresNothing) {
  TempDir dir;
  auto store = ArtifactStore::Open(dir.path());
  std::string data = Bytes(1000, 2);
  std::string wrong = Sha256Hex("something else");
  auto writer = (*store)->BeginWrite(wrong, 0, 1 << 20);
  ASSERT_TRUE((*writer)->Append(data).ok());
  auto stored = (*writer)->Finish();
  EXPECT_EQ(stored.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(stored.status().message().find("sha256 mismatch"), std::string::npos);
  writer->reset();
  EXPECT_EQ(FilesUnder(dir.path()), 0u);
}

TEST(ArtifactStoreTest, SizeMismatchEmptyAndOversizedAreRefused) {
  TempDir dir;
  auto store = ArtifactStore::Open(dir.path());
  std::string data = Bytes(1000, 3);
  std::string sha = Sha256Hex(data);
  {
    auto writer = (*store)->BeginWrite(sha, 999, 1 << 20);
    ASSERT_TRUE((*writer)->Append(data).ok());
    EXPECT_NE((*writer)->Finish().status().message().find("size mismatch"), std::string::npos);
  }
  {
    auto writer = (*store)->BeginWrite(Sha256Hex(""), 0, 1 << 20);
    EXPECT_NE((*writer)->Finish().status().message().find("empty upload"), std::string::npos);
  }
  {
    auto writer = (*store)->BeginWrite(sha, 0, 512);
    EXPECT_EQ((*writer)->Append(data).code(), StatusCode::kResourceExhausted);
  }
  EXPECT_EQ(FilesUnder(dir.path()), 0u);
}

TEST(ArtifactStoreTest, UnknownBlobIsNotFound) {
  TempDir dir;
  auto store = ArtifactStore::Open(dir.path());
  EXPECT_EQ((*store)->ReadAll(Sha256Hex("absent")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*store)->ReadAll("../../etc/passwd").status().code(), StatusCode::kInvalidArgument);
}

TEST(ArtifactStoreTest, LeftoverTempFilesAreClearedAtOpen) {
  TempDir dir;
  {
    auto store = ArtifactStore::Open(dir.path());
    ASSERT_TRUE(store.ok());
  }
  std::filesystem::path stray = std::filesystem::path(dir.path()) / "tmp" / "crashed-upload.part";
  { std::ofstream(stray) << "half"; }
  auto store = ArtifactStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  EXPECT_FALSE(std::filesystem::exists(stray));
}

TEST(Sha256Test, KnownDigests) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace qatlab::server
