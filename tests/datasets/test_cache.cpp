// The dataset cache: hits return the same dataset; stale and corrupt files are detected and rebuilt.
#include <gtest/gtest.h>

#include <fstream>

#include "datasets/cache.h"
#include "test_util.h"

namespace lrec::data {
namespace {

using testing::TempDir;
using testing::write_text;
namespace fs = std::filesystem;

void expect_same(const Dataset& a, const Dataset& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.num_items, b.num_items);
  EXPECT_EQ(a.titles, b.titles);
  EXPECT_EQ(a.sequences, b.sequences);
  EXPECT_EQ(a.user_raw_ids, b.user_raw_ids);
  EXPECT_EQ(a.item_raw_ids, b.item_raw_ids);
}

class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_text(dir_ / "raw/ratings.csv",
               "userId,movieId,rating,timestamp\n1,1,4.0,10\n1,3,4.0,5\n1,2,1.0,7\n2,1,2.5,3\n2,2,3.5,9\n");
    write_text(dir_ / "raw/movies.csv",
               "movieId,title,genres\n1,\"Heat, The (1995)\",A\n2,Ran (1985),B\n3,Up (2009),C\n");
    cfg_.path = (dir_ / "raw").string();
    cfg_.cache_dir = (dir_ / "cache").string();
    cfg_.min_uc = 2;
    cfg_.min_sc = 1;
  }

  // Loads and returns what was logged.
  std::string load(Dataset& out) {
    ::testing::internal::CaptureStderr();
    out = load_dataset(cfg_);
    return ::testing::internal::GetCapturedStderr();
  }

  std::vector<fs::path> cache_files() const {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir_ / "cache")) files.push_back(e.path());
    return files;
  }

  // Overwrites `count` bytes at `offset` (from the end when negative) of the only cache file.
  void patch(std::streamoff offset, const std::string& bytes) {
    const fs::path file = cache_files().at(0);
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(offset >= 0 ? offset : static_cast<std::streamoff>(fs::file_size(file)) + offset);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  TempDir dir_;
  DatasetConfig cfg_;
};

TEST_F(CacheTest, HitReturnsTheSameDataset) {
  Dataset built, cached;
  EXPECT_EQ(load(built).find("cache"), std::string::npos);
  ASSERT_EQ(cache_files().size(), 1u);
  const std::string log = load(cached);
  EXPECT_NE(log.find("(cache "), std::string::npos) << log;
  expect_same(built, cached);
  EXPECT_EQ(cached.titles[1], "The Heat (1995)");
}

TEST_F(CacheTest, CorruptFilesAreRebuilt) {
  Dataset built;
  load(built);
  const fs::path file = cache_files().at(0);
  const auto size = fs::file_size(file);
  struct Damage {
    const char* what;
    std::function<void()> apply;
    const char* expected;
  };
  const std::vector<Damage> damages = {
      {"truncated", [&] { fs::resize_file(file, size / 2); }, "header says"},
      {"payload byte flipped", [&] { patch(40, "\xFF\xFE"); }, "CRC-32 mismatch"},
      {"crc flipped", [&] { patch(-2, "\x01\x02"); }, "CRC-32 mismatch"},
      {"bad magic", [&] { patch(0, "XXXX"); }, "bad header"},
      {"empty", [&] { fs::resize_file(file, 0); }, "bad header"},
  };
  for (const Damage& damage : damages) {
    damage.apply();
    Dataset rebuilt;
    const std::string log = load(rebuilt);
    EXPECT_NE(log.find("is corrupt"), std::string::npos) << damage.what << ": " << log;
    EXPECT_NE(log.find(damage.expected), std::string::npos) << damage.what << ": " << log;
    EXPECT_NE(log.find("rebuilding"), std::string::npos) << damage.what << ": " << log;
    expect_same(built, rebuilt);
    Dataset again;
    EXPECT_NE(load(again).find("(cache "), std::string::npos)
        << damage.what << ": the rebuilt cache is not used";
  }
}

TEST_F(CacheTest, ChangedRawFileOrVersionMakesItStale) {
  Dataset before, after;
  load(before);
  write_text(dir_ / "raw/ratings.csv",
             "userId,movieId,rating,timestamp\n1,1,4.0,10\n1,3,4.0,5\n1,2,1.0,7\n2,1,2.5,3\n2,2,3.5,9\n2,3,5."
             "0,11\n");
  std::string log = load(after);
  EXPECT_NE(log.find("is stale"), std::string::npos) << log;
  EXPECT_EQ(after.num_interactions(), before.num_interactions() + 1);

  patch(8, std::string("\x63\x00\x00\x00", 4));  // the format version field
  log = load(after);
  EXPECT_NE(log.find("cache format version 99"), std::string::npos) << log;
  EXPECT_EQ(cache_files().size(), 1u);
}

TEST_F(CacheTest, OtherOptionsUseAnotherFile) {
  Dataset a, b;
  load(a);
  cfg_.tie_break = "file_order";
  load(b);
  EXPECT_EQ(cache_files().size(), 2u);
}

TEST_F(CacheTest, UnwritableCacheDirectoryOnlyWarns) {
  write_text(dir_ / "blocker", "a file where the cache directory should be");
  cfg_.cache_dir = (dir_ / "blocker" / "cache").string();
  Dataset ds;
  const std::string log = load(ds);
  EXPECT_NE(log.find("could not write the dataset cache"), std::string::npos) << log;
  EXPECT_EQ(ds.num_users(), 2u);
}

TEST(CacheFile, RoundTripsDirectly) {
  TempDir dir;
  const Dataset ds = testing::make_dataset({{1, 2, 3}, {3, 1}}, 3);
  write_cache(dir / "x.lrecds", ds, 1234);
  CacheResult hit = read_cache(dir / "x.lrecds", 1234);
  ASSERT_EQ(hit.status, CacheStatus::kHit) << hit.reason;
  expect_same(ds, hit.dataset);
  EXPECT_EQ(read_cache(dir / "x.lrecds", 99).status, CacheStatus::kStale);
  EXPECT_EQ(read_cache(dir / "missing.lrecds", 1234).status, CacheStatus::kMissing);
}

}  // namespace
}  // namespace lrec::data
