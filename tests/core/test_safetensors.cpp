#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/safetensors.h"
#include "tests/common/test_util.h"

namespace lrec {
namespace {

using testing::error_message;
using testing::TempDir;

std::map<std::string, at::Tensor> expected_tensors() {
  return {
      {"f32", at::arange(12, at::kFloat).reshape({3, 4}) / 7},
      {"f16", (at::arange(6, at::kFloat) / 3).to(at::kHalf).reshape({2, 3})},
      {"bf16", (at::arange(6, at::kFloat) / 3).to(at::kBFloat16)},
      {"i64", at::arange(5, at::kLong) * -3},
      {"i32", at::arange(4, at::kInt) + 100},
      {"u8", at::arange(7, at::kByte)},
      {"bool", at::tensor({1, 0, 1}, at::kByte).to(at::kBool)},
      {"scalar", at::scalar_tensor(2.5, at::kFloat)},
      {"empty", at::zeros({0, 3}, at::kFloat)},
  };
}

void expect_same(const std::map<std::string, at::Tensor>& got,
                 const std::map<std::string, at::Tensor>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [name, t] : want) {
    ASSERT_TRUE(got.count(name)) << name;
    EXPECT_EQ(got.at(name).scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(got.at(name).sizes(), t.sizes()) << name;
    EXPECT_TRUE(at::equal(got.at(name), t)) << name;
  }
}

TEST(Safetensors, RoundTripEveryDtypeWithMetadata) {
  TempDir dir;
  safetensors::save(dir / "a.safetensors", expected_tensors(), {{"format", "pt"}, {"written_by", "lrec"}});
  expect_same(safetensors::load_all(dir / "a.safetensors"), expected_tensors());
  const auto file = safetensors::File::open(dir / "a.safetensors");
  EXPECT_EQ(file->metadata().at("written_by"), "lrec");
  // Header length is a multiple of 8, and data follows names in sorted order.
  const std::string bytes = read_file(dir / "a.safetensors");
  uint64_t header = 0;
  std::memcpy(&header, bytes.data(), 8);
  EXPECT_EQ(header % 8, 0u);
  uint64_t previous_end = 0;
  for (const auto& info : file->tensors()) {
    EXPECT_EQ(info.begin, previous_end) << info.name;
    previous_end = info.end;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "a.safetensors.tmp"));
}

TEST(Safetensors, ViewsAreCopyOnWrite) {
  TempDir dir;
  safetensors::save(dir / "a.safetensors", {{"x", at::ones({4})}});
  {
    const auto file = safetensors::File::open(dir / "a.safetensors");
    at::Tensor view = file->tensor("x");
    view.fill_(5);
    EXPECT_EQ(view.sum().item<float>(), 20.f);
  }
  EXPECT_TRUE(at::equal(safetensors::load_all(dir / "a.safetensors").at("x"), at::ones({4})));
}

TEST(Safetensors, TensorViewOutlivesFileHandle) {
  TempDir dir;
  safetensors::save(dir / "a.safetensors", {{"x", at::arange(3, at::kFloat)}});
  at::Tensor view = safetensors::File::open(dir / "a.safetensors")->tensor("x");
  EXPECT_TRUE(at::equal(view, at::arange(3, at::kFloat)));
}

// Writes a file with the given raw header and data section.
std::filesystem::path raw_file(const TempDir& dir, const std::string& header, const std::string& data,
                               uint64_t header_length_field = UINT64_MAX) {
  const uint64_t n = header_length_field == UINT64_MAX ? header.size() : header_length_field;
  std::string bytes(8, '\0');
  std::memcpy(bytes.data(), &n, 8);
  bytes += header + data;
  const auto path = dir / "bad.safetensors";
  write_file_atomic(path, bytes);
  return path;
}

std::string open_error(const std::filesystem::path& path) {
  return error_message([&] { safetensors::File::open(path); });
}

TEST(Safetensors, BadFilesGiveClearErrors) {
  TempDir dir;
  const std::string ok_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  struct Case {
    std::string name, header, data, expect;
    uint64_t length_field = UINT64_MAX;
  };
  const std::vector<Case> cases = {
      {"huge header", "{}", "", "exceeds the 100000000 byte limit", 200'000'000},
      {"header past end", "{}", "", "runs past the end", 1000},
      {"bad json", "{\"a\":", "", "not valid JSON"},
      {"not object", "[1,2]", "", "must be a JSON object"},
      {"unknown dtype", R"({"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", "x", "'F8_E4M3'"},
      {"missing fields", R"({"a":{"dtype":"F32"}})", "", "needs \"dtype\""},
      {"offsets outside", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", std::string(8, 'x'),
       "outside the data section"},
      {"size mismatch", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, 'x'),
       "shape x dtype size needs 12"},
      {"overlap", "{" + ok_entry + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       std::string(8, 'x'), "overlaps"},
      {"hole", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, 'x'), "hole"},
      {"trailing bytes", "{" + ok_entry + "}", std::string(12, 'x'), "data section has 12 bytes"},
      {"negative shape", R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", "",
       "not a non-negative"},
      {"bad metadata", R"({"__metadata__":{"k":1}})", "", "__metadata__['k'] must be a string"},
  };
  for (const auto& c : cases) {
    const auto path = raw_file(dir, c.header, c.data, c.length_field);
    const std::string msg = open_error(path);
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find("bad.safetensors"), std::string::npos) << c.name << ": " << msg;
  }
}

TEST(Safetensors, FileShorterThanLengthFieldIsRefused) {
  TempDir dir;
  write_file_atomic(dir / "bad.safetensors", "abc");
  EXPECT_NE(open_error(dir / "bad.safetensors").find("too short"), std::string::npos);
}

TEST(Safetensors, MissingTensorIsNamed) {
  TempDir dir;
  safetensors::save(dir / "a.safetensors", {{"x", at::ones({1})}});
  const std::string msg = error_message([&] { safetensors::File::open(dir / "a.safetensors")->tensor("y"); });
  EXPECT_NE(msg.find("no tensor named 'y'"), std::string::npos) << msg;
}

TEST(Safetensors, ShardedCheckpointThroughIndex) {
  TempDir dir;
  safetensors::save(dir / "model-00001-of-00002.safetensors", {{"a", at::ones({2})}});
  safetensors::save(dir / "model-00002-of-00002.safetensors", {{"b", at::zeros({3})}});
  nlohmann::json index = {
      {"metadata", {{"total_size", 20}}},
      {"weight_map", {{"a", "model-00001-of-00002.safetensors"}, {"b", "model-00002-of-00002.safetensors"}}}};
  write_file_atomic(dir / "model.safetensors.index.json", index.dump());
  const auto ckpt = safetensors::Checkpoint::open(dir.path());
  EXPECT_EQ(ckpt.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(at::equal(ckpt.tensor("a"), at::ones({2})));
  EXPECT_TRUE(at::equal(ckpt.tensor("b"), at::zeros({3})));
  ckpt.release("a");
  EXPECT_TRUE(at::equal(ckpt.tensor("a"), at::ones({2})));  // released pages fault back in from the file

  index["weight_map"]["c"] = "model-00002-of-00002.safetensors";
  write_file_atomic(dir / "model.safetensors.index.json", index.dump());
  const std::string msg = error_message([&] { safetensors::Checkpoint::open(dir.path()); });
  EXPECT_NE(msg.find("that shard has no such tensor"), std::string::npos) << msg;
}

int run_python(const std::string& args) { return testing::run_python("safetensors_roundtrip.py", args); }

TEST(Safetensors, RoundTripsWithPythonPackage) {
  TempDir dir;
  safetensors::save(dir / "ours.safetensors", expected_tensors(), {{"format", "pt"}, {"written_by", "lrec"}});
  const int check = run_python("check " + (dir / "ours.safetensors").string());
  if (check == 77) GTEST_SKIP() << "python safetensors/torch not importable; skipping the Python round trip";
  ASSERT_EQ(check, 0) << "Python could not read our file";
  ASSERT_EQ(run_python("write " + (dir / "theirs.safetensors").string()), 0);
  expect_same(safetensors::load_all(dir / "theirs.safetensors"), expected_tensors());
  EXPECT_EQ(safetensors::File::open(dir / "theirs.safetensors")->metadata().at("written_by"), "python");
}

}  // namespace
}  // namespace lrec
