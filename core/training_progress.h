// Where a training run stands: its step, the best validation so far (higher is better) with early-stopping
// patience, and the wall-clock times the results table reports. Both trainers keep one and store it in each
// checkpoint's state.json.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

namespace lrec {

struct TrainingProgress {
  int64_t step = 0;  // optimizer steps taken
  double best_metric = -1;
  int64_t best_step = 0;
  int64_t bad_validations = 0;  // validations since the best one
  double best_elapsed_s = 0;    // training seconds when the best validation ran
  double elapsed_s = 0;         // training seconds so far (across resumes)

  // Records a validation at the current step; true when it is a new best.
  bool record(double value, double elapsed) {
    if (value > best_metric) {
      best_metric = value;
      best_step = step;
      best_elapsed_s = elapsed;
      bad_validations = 0;
      return true;
    }
    ++bad_validations;
    return false;
  }
  bool patience_exhausted(int64_t patience) const { return bad_validations >= patience; }

  nlohmann::json to_json() const {
    return {{"step", step},
            {"best_metric", best_metric},
            {"best_step", best_step},
            {"bad_validations", bad_validations},
            {"best_elapsed_s", best_elapsed_s},
            {"elapsed_s", elapsed_s}};
  }
  static TrainingProgress from_json(const nlohmann::json& j) {
    return {j.at("step"),           j.at("best_metric"), j.at("best_step"), j.at("bad_validations"),
            j.at("best_elapsed_s"), j.at("elapsed_s")};
  }
};

}  // namespace lrec
