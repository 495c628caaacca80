#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/optim/adamw.h>

#include "core/atomic_file.h"
#include "core/checkpoint.h"
#include "core/safetensors.h"
#include "tests/common/test_util.h"

namespace lrec {
namespace {

namespace fs = std::filesystem;
using testing::error_message;
using testing::TempDir;

void write_payload(const fs::path& dir, int64_t step) {
  safetensors::save(dir / "model.safetensors", {{"w", at::full({3}, static_cast<double>(step))}});
  write_file_atomic(dir / "state.json", fmt::format("{{\"step\": {}}}\n", step));
}

// The best adapter and the merged export are directories replaced as a whole.
TEST(ReplaceDirectory, SwapsInAndRecoversTheOldOneAfterACrashBetweenTheRenames) {
  TempDir dir;
  const fs::path target = dir / "best", fresh = dir / ".tmp-best";
  fs::create_directories(fresh);
  write_file_atomic(fresh / "w", "first");
  swap_in_directory(fresh, target);  // no earlier target
  EXPECT_EQ(read_file(target / "w"), "first");
  fs::create_directories(fresh);
  write_file_atomic(fresh / "w", "second");
  swap_in_directory(fresh, target);
  EXPECT_EQ(read_file(target / "w"), "second");
  EXPECT_FALSE(fs::exists(fresh));
  EXPECT_FALSE(fs::exists(dir / "best.old"));

  // A crash after the first rename leaves only best.old: recovery puts it back, and does nothing when
  // the target is in place.
  fs::rename(target, dir / "best.old");
  recover_replaced_directory(target);
  EXPECT_EQ(read_file(target / "w"), "second");
  recover_replaced_directory(target);
  EXPECT_EQ(read_file(target / "w"), "second");
}

TEST(Checkpoint, SaveKeepsLastNAndLatestIsNewest) {
  TempDir dir;
  CheckpointManager manager(dir.path(), 2);
  for (int64_t step : {10, 20, 30}) manager.save(step, [&](const fs::path& d) { write_payload(d, step); });
  EXPECT_FALSE(fs::exists(dir / CheckpointManager::dir_name(10)));
  EXPECT_TRUE(fs::exists(dir / CheckpointManager::dir_name(20)));
  ASSERT_TRUE(manager.latest().has_value());
  EXPECT_EQ(manager.latest()->filename(), CheckpointManager::dir_name(30));
  CheckpointManager::verify(*manager.latest());
  EXPECT_EQ(safetensors::load_all(*manager.latest() / "model.safetensors").at("w")[0].item<float>(), 30.f);
}

TEST(Checkpoint, FailedSaveLeavesNothingBehind) {
  TempDir dir;
  CheckpointManager manager(dir.path(), 3);
  manager.save(1, [&](const fs::path& d) { write_payload(d, 1); });
  EXPECT_THROW(manager.save(2,
                            [&](const fs::path& d) {
                              write_payload(d, 2);
                              throw std::runtime_error("disk full");
                            }),
               std::runtime_error);
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
  EXPECT_EQ(manager.latest()->filename(), CheckpointManager::dir_name(1));
}

TEST(Checkpoint, DirectoryWithoutManifestIsSkipped) {
  TempDir dir;
  CheckpointManager manager(dir.path(), 3);
  manager.save(1, [&](const fs::path& d) { write_payload(d, 1); });
  fs::create_directories(dir / CheckpointManager::dir_name(5));  // looks newer, but is incomplete
  EXPECT_EQ(manager.latest()->filename(), CheckpointManager::dir_name(1));
}

TEST(Checkpoint, CorruptFilesAreRefusedWithClearMessage) {
  TempDir dir;
  CheckpointManager manager(dir.path(), 3);
  const fs::path ckpt = manager.save(7, [&](const fs::path& d) { write_payload(d, 7); });

  std::string bytes = read_file(ckpt / "model.safetensors");
  bytes[bytes.size() - 1] ^= 0x5a;  // flip bits, same size
  write_file_atomic(ckpt / "model.safetensors", bytes);
  std::string msg = error_message([&] { CheckpointManager::verify(ckpt); });
  EXPECT_NE(msg.find("is corrupt: model.safetensors has CRC-32"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Delete this checkpoint directory"), std::string::npos) << msg;

  write_file_atomic(ckpt / "model.safetensors", bytes.substr(0, 10));
  msg = error_message([&] { CheckpointManager::verify(ckpt); });
  EXPECT_NE(msg.find("has 10 bytes"), std::string::npos) << msg;

  const fs::path other = manager.save(8, [&](const fs::path& d) { write_payload(d, 8); });
  fs::remove(other / "state.json");
  msg = error_message([&] { CheckpointManager::verify(other); });
  EXPECT_NE(msg.find("state.json is missing"), std::string::npos) << msg;
}

// One AdamW step on a tiny quadratic so that every parameter has state.
torch::optim::AdamW make_stepped(const NamedParameters& params) {
  std::vector<at::Tensor> list;
  for (const auto& [n, p] : params) list.push_back(p);
  torch::optim::AdamW opt(list, torch::optim::AdamWOptions(0.1));
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    at::Tensor loss = at::zeros({});
    for (const auto& [n, p] : params) loss = loss + (p * p).sum();
    loss.backward();
    opt.step();
  }
  return opt;
}

TEST(Checkpoint, AdamWStateMapsByNameNotPosition) {
  TempDir dir;
  const NamedParameters params = {{"a", at::ones({2}).requires_grad_()},
                                  {"b", at::ones({3}).requires_grad_()}};
  auto opt = make_stepped(params);
  save_adamw_state(opt, params, dir / "optimizer.safetensors");

  // The same parameters listed in the opposite order still get their own state.
  const NamedParameters reversed = {{"b", at::ones({3}).requires_grad_()},
                                    {"a", at::ones({2}).requires_grad_()}};
  torch::optim::AdamW restored({reversed[0].second, reversed[1].second}, torch::optim::AdamWOptions(0.1));
  load_adamw_state(restored, reversed, dir / "optimizer.safetensors");
  for (const auto& [name, p] : reversed) {
    const auto& want = static_cast<const torch::optim::AdamWParamState&>(
        *opt.state().at(std::find_if(params.begin(), params.end(), [&](auto& x) {
                          return x.first == name;
                        })->second.unsafeGetTensorImpl()));
    const auto& got =
        static_cast<const torch::optim::AdamWParamState&>(*restored.state().at(p.unsafeGetTensorImpl()));
    EXPECT_EQ(got.step(), 3);
    EXPECT_TRUE(at::equal(got.exp_avg(), want.exp_avg())) << name;
    EXPECT_TRUE(at::equal(got.exp_avg_sq(), want.exp_avg_sq())) << name;
  }
}

TEST(Checkpoint, AdamWStateForOtherModelIsRefused) {
  TempDir dir;
  const NamedParameters params = {{"a", at::ones({2}).requires_grad_()}};
  auto opt = make_stepped(params);
  save_adamw_state(opt, params, dir / "optimizer.safetensors");

  const NamedParameters wrong_shape = {{"a", at::ones({5}).requires_grad_()}};
  torch::optim::AdamW other({wrong_shape[0].second}, torch::optim::AdamWOptions(0.1));
  std::string msg =
      error_message([&] { load_adamw_state(other, wrong_shape, dir / "optimizer.safetensors"); });
  EXPECT_NE(msg.find("has shape [2], but parameter 'a' has shape [5]"), std::string::npos) << msg;

  const NamedParameters renamed = {{"z", at::ones({2}).requires_grad_()}};
  torch::optim::AdamW third({renamed[0].second}, torch::optim::AdamWOptions(0.1));
  msg = error_message([&] { load_adamw_state(third, renamed, dir / "optimizer.safetensors"); });
  EXPECT_NE(msg.find("matches no trainable parameter"), std::string::npos) << msg;
}

TEST(Checkpoint, RngStateRestoresTheSameDraws) {
  TempDir dir;
  at::manual_seed(123);
  at::rand({4});
  save_rng_state(dir / "rng.safetensors");
  const at::Tensor first = at::rand({8});
  at::rand({100});  // move on
  load_rng_state(dir / "rng.safetensors");
  EXPECT_TRUE(at::equal(at::rand({8}), first));
}

}  // namespace
}  // namespace lrec
