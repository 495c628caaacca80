#include "core/checkpoint.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/atomic_file.h"
#include "core/checksum.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/safetensors.h"

namespace lrec {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kManifest = "MANIFEST.json";
constexpr const char* kPrefix = "step_";
constexpr const char* kTempPrefix = ".tmp-step_";

std::optional<int64_t> parse_step(const std::string& name, const std::string& prefix) {
  if (name.rfind(prefix, 0) != 0) return std::nullopt;
  const std::string digits = name.substr(prefix.size());
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return std::nullopt;
  return std::stoll(digits);
}

// (step, path) of every final-named checkpoint directory, oldest first.
std::vector<std::pair<int64_t, fs::path>> list_checkpoints(const fs::path& root) {
  std::vector<std::pair<int64_t, fs::path>> out;
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::directory_iterator(root)) {
    if (!e.is_directory()) continue;
    if (auto step = parse_step(e.path().filename().string(), kPrefix)) out.emplace_back(*step, e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

CheckpointManager::CheckpointManager(fs::path root, int keep_last)
    : root_(std::move(root)), keep_last_(keep_last) {
  if (keep_last_ < 1) fail("checkpoint.keep_last must be at least 1, got {}", keep_last_);
}

std::string CheckpointManager::dir_name(int64_t step) { return fmt::format("{}{:08d}", kPrefix, step); }

fs::path CheckpointManager::save(int64_t step, const std::function<void(const fs::path&)>& write_files) {
  fs::create_directories(root_);
  // Leftovers of a crashed save are never complete: remove them.
  for (const auto& e : fs::directory_iterator(root_)) {
    if (parse_step(e.path().filename().string(), kTempPrefix)) fs::remove_all(e.path());
  }
  const fs::path temp = root_ / fmt::format("{}{:08d}", kTempPrefix, step);
  const fs::path final_dir = root_ / dir_name(step);
  fs::create_directories(temp);
  try {
    write_files(temp);
    json files = json::object();
    for (const auto& e : fs::directory_iterator(temp)) {
      const std::string name = e.path().filename().string();
      files[name] = {{"bytes", fs::file_size(e.path())}, {"crc32", crc32_file(e.path())}};
    }
    write_file_atomic(temp / kManifest, json({{"step", step}, {"files", files}}).dump(2) + "\n");
    if (fs::exists(final_dir)) fs::remove_all(final_dir);
    fs::rename(temp, final_dir);
    sync_directory(root_);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(temp, ignored);
    throw;
  }
  auto all = list_checkpoints(root_);
  for (size_t i = 0; i + keep_last_ < all.size(); ++i) fs::remove_all(all[i].second);
  return final_dir;
}

void CheckpointManager::check_start(bool resume) const {
  if (resume && !latest())
    fail("resume=true, but {} holds no complete checkpoint. Start without --resume.", root_.string());
  if (!resume && fs::exists(root_) && !fs::is_empty(root_)) {
    fail(
        "{} already holds checkpoints of an earlier run. Pass --resume to continue it, or choose another "
        "output_dir.",
        root_.parent_path().string());
  }
}

std::optional<fs::path> CheckpointManager::latest() const {
  auto all = list_checkpoints(root_);
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (fs::exists(it->second / kManifest)) return it->second;
    log::warn("{} has no {} (interrupted save?); skipping it.", it->second.string(), kManifest);
  }
  return std::nullopt;
}

void CheckpointManager::verify(const fs::path& dir) {
  const fs::path manifest_path = dir / kManifest;
  if (!fs::exists(manifest_path)) fail("checkpoint {} is incomplete: it has no {}.", dir.string(), kManifest);
  const json manifest = json::parse(read_file(manifest_path), nullptr, false);
  if (manifest.is_discarded() || !manifest.contains("files") || !manifest["files"].is_object()) {
    fail(
        "checkpoint {} is corrupt: {} is not valid. Delete this directory to resume from an earlier "
        "checkpoint.",
        dir.string(), manifest_path.string());
  }
  for (const auto& [name, expected] : manifest["files"].items()) {
    const fs::path file = dir / name;
    const auto how_to_fix =
        "Delete this checkpoint directory to resume from the one before it, or start a fresh run.";
    if (!fs::exists(file))
      fail("checkpoint {} is corrupt: {} is missing. {}", dir.string(), name, how_to_fix);
    const uint64_t bytes = fs::file_size(file);
    if (bytes != expected.value("bytes", uint64_t{0})) {
      fail("checkpoint {} is corrupt: {} has {} bytes, the manifest says {}. {}", dir.string(), name, bytes,
           expected.value("bytes", uint64_t{0}), how_to_fix);
    }
    const uint32_t crc = crc32_file(file);
    if (crc != expected.value("crc32", uint32_t{0})) {
      fail("checkpoint {} is corrupt: {} has CRC-32 {:08x}, the manifest says {:08x}. {}", dir.string(), name,
           crc, expected.value("crc32", uint32_t{0}), how_to_fix);
    }
  }
}

void save_adamw_state(const torch::optim::AdamW& optimizer, const NamedParameters& params,
                      const fs::path& path) {
  std::map<std::string, at::Tensor> tensors;
  const auto& state = optimizer.state();
  for (const auto& [name, p] : params) {
    const auto it = state.find(p.unsafeGetTensorImpl());
    if (it == state.end()) continue;  // no step taken for this parameter yet
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    tensors[name + ".exp_avg"] = s.exp_avg();
    tensors[name + ".exp_avg_sq"] = s.exp_avg_sq();
    if (s.max_exp_avg_sq().defined()) tensors[name + ".max_exp_avg_sq"] = s.max_exp_avg_sq();
    tensors[name + ".step"] = at::scalar_tensor(s.step(), at::kLong);
  }
  safetensors::save(path, tensors);
}

void load_adamw_state(torch::optim::AdamW& optimizer, const NamedParameters& params, const fs::path& path) {
  const auto file = safetensors::File::open(path);
  std::set<std::string> unused;
  for (const auto& info : file->tensors()) unused.insert(info.name);
  auto& state = optimizer.state();
  for (const auto& [name, p] : params) {
    if (file->find(name + ".step") == nullptr) continue;  // the parameter had no state when saved
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(file->tensor(name + ".step").item<int64_t>());
    for (const char* key : {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}) {
      const std::string full = fmt::format("{}.{}", name, key);
      unused.erase(full);
      if (file->find(full) == nullptr) continue;
      at::Tensor t = file->tensor(full);
      if (t.sizes() != p.sizes()) {
        fail(
            "{}: optimizer state '{}' has shape {}, but parameter '{}' has shape {}. The checkpoint belongs "
            "to "
            "a different model configuration.",
            path.string(), full, c10::str(t.sizes()), name, c10::str(p.sizes()));
      }
      t = t.to(p.options()).clone();
      if (std::string(key) == "exp_avg")
        s->exp_avg(t);
      else if (std::string(key) == "exp_avg_sq")
        s->exp_avg_sq(t);
      else
        s->max_exp_avg_sq(t);
    }
    unused.erase(name + ".step");
    state[p.unsafeGetTensorImpl()] = std::move(s);
  }
  if (!unused.empty()) {
    fail(
        "{}: optimizer state for '{}' matches no trainable parameter of this model. The checkpoint belongs "
        "to a "
        "different model configuration.",
        path.string(), *unused.begin());
  }
}

void save_rng_state(const fs::path& path) {
  std::map<std::string, at::Tensor> tensors;
  tensors["cpu"] = at::detail::getDefaultCPUGenerator().get_state();
  const int64_t gpus = static_cast<int64_t>(torch::cuda::device_count());
  for (int64_t i = 0; i < gpus; ++i) {
    tensors[fmt::format("cuda.{}", i)] =
        at::globalContext()
            .defaultGenerator(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(i)))
            .get_state();
  }
  safetensors::save(path, tensors);
}

void load_rng_state(const fs::path& path) {
  const auto file = safetensors::File::open(path);
  at::Generator cpu = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(cpu.mutex());
    cpu.set_state(file->tensor("cpu").clone());
  }
  const int64_t gpus = static_cast<int64_t>(torch::cuda::device_count());
  for (int64_t i = 0; i < gpus; ++i) {
    const std::string name = fmt::format("cuda.{}", i);
    if (file->find(name) == nullptr) continue;
    at::Generator g =
        at::globalContext().defaultGenerator(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(i)));
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_state(file->tensor(name).clone());
  }
}

std::map<std::string, at::Tensor> parameter_map(const NamedParameters& params) {
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, p] : params) out[name] = p;
  return out;
}

void load_parameters(const fs::path& path, const NamedParameters& params, const std::string& prefix) {
  const auto file = safetensors::File::open(path);
  c10::NoGradGuard no_grad;
  for (const auto& [name, p] : params) {
    const std::string key = prefix + name;
    if (file->find(key) == nullptr)
      fail("{}: has no tensor '{}'; it was written for a different model or configuration.", path.string(),
           key);
    const at::Tensor t = file->tensor(key);
    if (t.sizes() != p.sizes()) {
      fail("{}: tensor '{}' has shape {}, the model expects {}. Check the model settings and the dataset.",
           path.string(), key, c10::str(t.sizes()), c10::str(p.sizes()));
    }
    p.copy_(t);
  }
}

fs::path save_training_checkpoint(CheckpointManager& checkpoints, int64_t step, const NamedParameters& params,
                                  const torch::optim::AdamW& optimizer, const nlohmann::json& state,
                                  const std::string& config_yaml) {
  return checkpoints.save(step, [&](const fs::path& dir) {
    safetensors::save(dir / "model.safetensors", parameter_map(params));
    save_adamw_state(optimizer, params, dir / "optimizer.safetensors");
    save_rng_state(dir / "rng.safetensors");
    write_file_atomic(dir / "state.json", state.dump(2) + "\n");
    config::save_resolved(dir, config_yaml);
  });
}

void check_resume_settings(const CheckpointManager& checkpoints, const std::string& config_yaml,
                           const std::vector<std::string>& also_may_change) {
  const auto latest = checkpoints.latest();
  if (!latest) fail("no complete checkpoint to resume from. Start without --resume.");
  std::vector<std::string> may_change = also_may_change;
  for (const char* key : {"output_dir", "threads", "resume", "keep_checkpoints", "dataset.cache_dir",
                          "train.eval_batch_size", "train.log_every", "train.max_steps", "train.max_epochs"})
    may_change.emplace_back(key);
  config::check_resume_settings(*latest / "config.yaml", config_yaml, may_change);
}

nlohmann::json restore_training_checkpoint(const CheckpointManager& checkpoints,
                                           const NamedParameters& params, torch::optim::AdamW& optimizer,
                                           fs::path* dir) {
  const auto latest = checkpoints.latest();
  if (!latest) fail("no complete checkpoint to resume from. Start without --resume.");
  CheckpointManager::verify(*latest);
  load_parameters(*latest / "model.safetensors", params);
  load_adamw_state(optimizer, params, *latest / "optimizer.safetensors");
  load_rng_state(*latest / "rng.safetensors");
  if (dir != nullptr) *dir = *latest;
  return nlohmann::json::parse(read_file(*latest / "state.json"));
}

}  // namespace lrec
