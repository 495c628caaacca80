// Training checkpoints: one directory per step, complete or absent.
//
//   <root>/step_00001200/
//     model.safetensors      trainable weights, by parameter name
//     optimizer.safetensors  AdamW state, by parameter name ("<name>.exp_avg", ".exp_avg_sq", ".step")
//     rng.safetensors        CPU (and CUDA) generator states
//     state.json             step, epoch, data position, schedule step, best metric, early-stopping counter
//     config.yaml            the resolved config
//     MANIFEST.json          size and CRC-32 of every file above; written last
//
// A checkpoint is written under a temporary name (".tmp-step_…"), and renamed once its manifest is
// written, so a crash never leaves a directory that looks complete. Resume takes the newest complete
// checkpoint and verifies every checksum; a corrupt one is refused with a message saying what to do.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace torch::optim {
class AdamW;
}

namespace lrec {

class CheckpointManager {
 public:
  CheckpointManager(std::filesystem::path root, int keep_last);

  // Creates the temporary directory, lets `write_files` fill it, writes the manifest, renames it to
  // step_<step>, then deletes all but the newest `keep_last` checkpoints. Returns the final path.
  std::filesystem::path save(int64_t step,
                             const std::function<void(const std::filesystem::path&)>& write_files);

  // Newest directory with a manifest, or nothing. Does not verify it.
  std::optional<std::filesystem::path> latest() const;

  // A run's start: with `resume`, a complete checkpoint must exist; without, the directory must hold no
  // checkpoints of an earlier run (never overwritten). Throws lrec::Error saying which flag to change.
  void check_start(bool resume) const;

  // Throws lrec::Error when a file is missing, has the wrong size or the wrong checksum.
  static void verify(const std::filesystem::path& dir);

  static std::string dir_name(int64_t step);

 private:
  std::filesystem::path root_;
  int keep_last_;
};

// Parameters in a fixed, name-sorted order. Optimizer state is stored and matched by these names, never by
// position.
using NamedParameters = std::vector<std::pair<std::string, at::Tensor>>;

void save_adamw_state(const torch::optim::AdamW& optimizer, const NamedParameters& params,
                      const std::filesystem::path& path);
// Restores state onto `params`; the names and shapes must match the file exactly.
void load_adamw_state(torch::optim::AdamW& optimizer, const NamedParameters& params,
                      const std::filesystem::path& path);

void save_rng_state(const std::filesystem::path& path);
void load_rng_state(const std::filesystem::path& path);

// name -> tensor, for safetensors::save.
std::map<std::string, at::Tensor> parameter_map(const NamedParameters& params);
// Copies every parameter from the tensor named prefix + its name in the safetensors file `path`. A missing
// or misshapen tensor is an error naming the file and the tensor.
void load_parameters(const std::filesystem::path& path, const NamedParameters& params,
                     const std::string& prefix = "");

// A trainer's checkpoint at `step`: model.safetensors (the trainable parameters), optimizer.safetensors,
// rng.safetensors, state.json (`state`, e.g. step, data position, best metric) and config.yaml.
std::filesystem::path save_training_checkpoint(CheckpointManager& checkpoints, int64_t step,
                                               const NamedParameters& params,
                                               const torch::optim::AdamW& optimizer,
                                               const nlohmann::json& state, const std::string& config_yaml);
// Before a resumed run writes anything: its settings must equal those in the newest checkpoint's
// config.yaml (see config::check_resume_settings). The keys every trainer shares that change only speed,
// logging or paths may differ, and so may train.max_steps/max_epochs, which extend the run; a trainer
// adds its own such keys in `also_may_change`.
void check_resume_settings(const CheckpointManager& checkpoints, const std::string& config_yaml,
                           const std::vector<std::string>& also_may_change);

// Verifies the newest checkpoint, restores parameters, optimizer and RNG from it, and returns its
// state.json. `dir` receives the checkpoint's path.
nlohmann::json restore_training_checkpoint(const CheckpointManager& checkpoints,
                                           const NamedParameters& params, torch::optim::AdamW& optimizer,
                                           std::filesystem::path* dir);

}  // namespace lrec
