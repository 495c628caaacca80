// Where a training run stands: its step, the best validation so far (higher is better) with early-stopping
// patience, and the wall-clock times the results table reports. Both trainers keep one and store it in each
// checkpoint's state.json.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace lrec {

struct TrainingProgress {
  int64_t step = 0;  // optimizer steps taken
  double best_metric = -1;
  int64_t best_step = 0;
  int64_t bad_validations = 0;  // validations since the best one
  double best_elapsed_s = 0;    // training seconds when the best validation ran
  double elapsed_s = 0;         // training seconds so far (across resumes)
  // Per-step values (e.g. "loss") summed since the last line of train.jsonl, so that a run resumed between
  // two lines writes the same next line as the run without the stop.
  std::map<std::string, double> log_sums;
  int64_t log_steps = 0;

  void add_to_log(const std::map<std::string, double>& values) {
    for (const auto& [key, value] : values) log_sums[key] += value;
    ++log_steps;
  }
  // The next line of train.jsonl: the means since the last line, with the step, the epoch and the training
  // seconds so far; the sums start afresh for the line after it.
  std::map<std::string, double> take_log_line(int64_t epoch, double elapsed) {
    std::map<std::string, double> line;
    for (const auto& [key, sum] : log_sums) line[key] = sum / double(log_steps);
    log_sums.clear();
    log_steps = 0;
    line["step"] = double(step);
    line["epoch"] = double(epoch);
    line["elapsed_s"] = elapsed;
    return line;
  }

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
            {"elapsed_s", elapsed_s},
            {"log_sums", log_sums},
            {"log_steps", log_steps}};
  }
  static TrainingProgress from_json(const nlohmann::json& j) {
    TrainingProgress p;
    p.step = j.at("step");
    p.best_metric = j.at("best_metric");
    p.best_step = j.at("best_step");
    p.bad_validations = j.at("bad_validations");
    p.best_elapsed_s = j.at("best_elapsed_s");
    p.elapsed_s = j.at("elapsed_s");
    p.log_sums = j.value("log_sums", std::map<std::string, double>{});  // absent before this field
    p.log_steps = j.value("log_steps", int64_t{0});
    return p;
  }
};

}  // namespace lrec
