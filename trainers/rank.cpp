// rank: the serving path of the LLM ranker. Reads one request per JSON line,
//   {"history": [titles or item ids, oldest first], "candidates": [titles or item ids]}
// ranks the candidates with one forward pass (the letter logits), and writes one JSON line per request,
//   {"ranking": [{"candidate": <as given>, "letter": "C", "score": 3.21}, ...best first], "latency_ms": 12.3}
// JSON strings are titles; integers and {"id": "<raw id>"} objects are the dataset's raw item ids (then
// use_dataset=true and `dataset` must be set). At
// the end it logs the latency per request (mean, p50, p95, max).
//
//   rank --config configs/synthetic/rank.yaml model.adapter=runs/.../best_adapter input=requests.jsonl
#include <ATen/ATen.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/log.h"
#include "core/program.h"
#include "core/runtime.h"
#include "datasets/dataset.h"
#include "llm_ranker/letter_ranker.h"
#include "llm_ranker/prompt.h"
#include "llm_ranker/ranker_model.h"

namespace lrec {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct RankConfig {
  std::string input = "-";   // JSON lines; "-": standard input
  std::string output = "-";  // "-": standard output; a file is written atomically when all lines succeeded
  int threads = 0;
  int max_history = 20;
  int pad_to_multiple = 64;  // prompts are padded to a multiple of this length (see letter_ranker.h)
  bool use_dataset = false;  // map numeric item ids to titles through `dataset`
  data::DatasetConfig dataset;
  llm::RankerModelConfig model;
  llm::LoraConfig lora;  // unused when model.adapter is set (the adapter's own config applies)
  llm::PromptConfig prompt;
  template <class V>
  void visit(V& v) {
    v("input", input);
    v("output", output);
    v("threads", threads);
    v("max_history", max_history);
    v("pad_to_multiple", pad_to_multiple);
    v("use_dataset", use_dataset);
    v("dataset", dataset);
    v("model", model);
    v("lora", lora);
    v("prompt", prompt);
  }
};

constexpr const char* kUsage = "rank --config FILE [key=value ...]   (requests: JSON lines on input)";

class Ranker {
 public:
  explicit Ranker(const RankConfig& cfg) : cfg_(cfg) {
    config::require(cfg.max_history >= 1, "max_history", ">= 1");
    config::require(cfg.pad_to_multiple >= 1, "pad_to_multiple", ">= 1");
    if (cfg.model.mode == "lora" && cfg.model.adapter.empty())
      log::warn("model.adapter is not set: ranking with the base model and untrained (no-op) adapters.");
    ranker_ = llm::load_ranker_model(cfg.model, cfg.lora);
    ranker_.model->eval();
    prompts_.emplace(ranker_.tokenizer, cfg.prompt);
    const llm::PromptSettings serving(*prompts_, cfg.max_history);
    llm::check_prompt_settings(cfg.model.path, serving);  // a merged or fully fine-tuned model
    if (!cfg.model.adapter.empty()) llm::check_prompt_settings(cfg.model.adapter, serving);
    if (cfg.use_dataset) {
      dataset_ = data::load_dataset(cfg.dataset);
      for (size_t item = 1; item < dataset_.item_raw_ids.size(); ++item)
        item_by_raw_id_[dataset_.item_raw_ids[item]] = item;
    }
  }

  // One request line -> one response (without latency).
  json rank(const json& request, const std::string& where) {
    if (!request.is_object() || !request.contains("history") || !request.contains("candidates"))
      fail("{}: expected an object with \"history\" and \"candidates\" arrays.", where);
    json recent = request.at("history");  // the last max_history entries: only they are tokenized
    if (recent.is_array() && recent.size() > size_t(cfg_.max_history))
      recent.erase(recent.begin(), recent.end() - cfg_.max_history);
    const std::vector<std::string> history = titles(recent, "history", where);
    const std::vector<std::string> candidates = titles(request.at("candidates"), "candidates", where);
    if (candidates.empty() || candidates.size() > size_t(llm::kMaxCandidates))
      fail("{}: {} candidates; give 1 to {} (letters A-Z).", where, candidates.size(), llm::kMaxCandidates);
    const std::vector<int64_t> ids = prompts_->encode(history, candidates);
    const std::vector<int64_t> letters(prompts_->letter_ids().begin(),
                                       prompts_->letter_ids().begin() + int64_t(candidates.size()));
    c10::NoGradGuard no_grad;
    const at::Device device = ranker_.model->model->embed_tokens->weight.device();
    const at::Tensor scores =
        llm::letter_scores(*ranker_.model,
                           llm::left_pad({ids}, {ranker_.pad_id, cfg_.pad_to_multiple}, device), letters)[0]
            .cpu();
    const at::Tensor order = scores.argsort(/*stable=*/true, /*dim=*/0, /*descending=*/true);
    json ranking = json::array();
    for (int64_t r = 0; r < order.size(0); ++r) {
      const int64_t j = order[r].item<int64_t>();
      ranking.push_back({{"candidate", request.at("candidates")[size_t(j)]},
                         {"letter", llm::candidate_letter(int(j))},
                         {"score", scores[j].item<double>()}});
    }
    return {{"ranking", ranking}};
  }

 private:
  std::vector<std::string> titles(const json& list, const char* key, const std::string& where) const {
    if (!list.is_array()) fail("{}: \"{}\" must be an array of titles or item ids.", where, key);
    std::vector<std::string> out;
    for (const json& entry : list) {
      if (entry.is_string()) {
        out.push_back(prompts_->truncate_title(entry.get<std::string>()));
      } else if (entry.is_number_integer() || (entry.is_object() && entry.contains("id"))) {
        const json& id = entry.is_object() ? entry.at("id") : entry;
        const std::string raw = id.is_string() ? id.get<std::string>() : id.dump();
        if (!cfg_.use_dataset)
          fail(
              "{}: \"{}\" holds the item id {}; set use_dataset=true and dataset.* to map ids to titles, or "
              "send titles.",
              where, key, raw);
        const auto it = item_by_raw_id_.find(raw);
        if (it == item_by_raw_id_.end())
          fail("{}: item id {} in \"{}\" is not an item of dataset {}.", where, raw, key, dataset_.name);
        out.push_back(prompts_->truncate_title(dataset_.titles[it->second]));
      } else {
        fail(
            "{}: \"{}\" entries must be titles (strings) or item ids (integers or {{\"id\": ...}}), found "
            "{}.",
            where, key, entry.dump());
      }
    }
    return out;
  }

  const RankConfig& cfg_;
  llm::RankerModel ranker_;
  std::optional<llm::PromptBuilder> prompts_;
  data::Dataset dataset_;
  std::unordered_map<std::string, size_t> item_by_raw_id_;
};

double percentile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, size_t(q * double(values.size() - 1) + 0.5))];
}

int run(const RankConfig& cfg) {
  configure_runtime(cfg.threads);
  Ranker ranker(cfg);
  std::ifstream file;
  if (cfg.input != "-") {
    file.open(cfg.input);
    if (!file) fail("config key 'input': cannot open {}.", cfg.input);
  }
  std::istream& in = cfg.input == "-" ? std::cin : file;
  const std::string source = cfg.input == "-" ? "<stdin>" : cfg.input;
  std::ostringstream buffered;  // the output file's contents, written once at the end
  std::vector<double> latencies_ms;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", source, number);
    const auto start = std::chrono::steady_clock::now();
    const json request = json::parse(line, nullptr, false);
    if (request.is_discarded()) fail("{}: not valid JSON.", where);
    json response = ranker.rank(request, where);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    latencies_ms.push_back(ms);
    response["latency_ms"] = ms;
    if (cfg.output == "-") {
      std::cout << response.dump() << "\n" << std::flush;
    } else {
      buffered << response.dump() << "\n";
    }
  }
  if (cfg.output != "-") write_file_atomic(cfg.output, buffered.str());
  if (latencies_ms.empty()) {
    log::warn("{}: no requests.", source);
    return 0;
  }
  double total = 0;
  for (const double ms : latencies_ms) total += ms;
  log::info(
      "{} requests: latency per request mean {:.1f} ms, p50 {:.1f} ms, p95 {:.1f} ms, max {:.1f} ms ({:.1f} "
      "requests/s)",
      latencies_ms.size(), total / double(latencies_ms.size()), percentile(latencies_ms, 0.5),
      percentile(latencies_ms, 0.95), percentile(latencies_ms, 1.0),
      1000.0 * double(latencies_ms.size()) / total);
  return 0;
}

}  // namespace
}  // namespace lrec

int main(int argc, char** argv) {
  return lrec::program_main<lrec::RankConfig>(argc, argv, lrec::kUsage, lrec::run);
}
