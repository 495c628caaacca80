#include "llm_ranker/prompt.h"

#include <algorithm>
#include <sstream>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"

namespace lrec::llm {

namespace fs = std::filesystem;

PromptTemplate PromptTemplate::load(const fs::path& path) {
  if (!fs::exists(path))
    fail(
        "prompt template {} does not exist. Set prompt.template_file to an existing file (see "
        "configs/prompts/).",
        path.string());
  return config::load<PromptTemplate>(config::CommandLine{path, {}, false});
}

std::string substitute(const std::string& text,
                       const std::vector<std::pair<std::string, std::string>>& values,
                       const std::string& where) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      out += c;
      ++i;
      continue;
    }
    if (c == '}') fail("{}: unmatched '}}' in \"{}\"; write '}}}}' for a literal brace.", where, text);
    if (c != '{') {
      out += c;
      continue;
    }
    const size_t close = text.find('}', i);
    if (close == std::string::npos)
      fail("{}: unclosed '{{' in \"{}\"; write '{{{{' for a literal brace.", where, text);
    const std::string name = text.substr(i + 1, close - i - 1);
    const auto it =
        std::find_if(values.begin(), values.end(), [&](const auto& kv) { return kv.first == name; });
    if (it == values.end()) {
      std::string known;
      for (const auto& [key, value] : values) known += (known.empty() ? "{" : ", {") + key + "}";
      fail("{}: unknown placeholder {{{}}} in \"{}\". Allowed here: {}.", where, name, text, known);
    }
    out += it->second;
    i = close;
  }
  return out;
}

namespace {

// Every part must reach the prompt: a template without {candidates}, or a candidate line without its
// {letter}, would train and rank on prompts that do not show them.
void check_shows_every_part(const PromptTemplate& t, const std::string& source) {
  struct Part {
    const char* key;
    const std::string& text;
    std::vector<std::string> placeholders;  // all it may hold
    std::vector<std::string> required;
  };
  const Part parts[] = {{"prompt", t.prompt, {"instruction", "input"}, {"input"}},
                        {"input", t.input, {"history", "candidates"}, {"history", "candidates"}},
                        {"history_item", t.history_item, {"index", "title"}, {"title"}},
                        {"candidate_item", t.candidate_item, {"letter", "title"}, {"letter", "title"}}};
  for (const Part& part : parts) {
    for (const std::string& required : part.required) {
      const std::string marker = "\x1e" + required + "\x1e";
      std::vector<std::pair<std::string, std::string>> values;
      for (const std::string& name : part.placeholders)
        values.emplace_back(name, name == required ? marker : "");
      if (substitute(part.text, values, source + ", " + part.key).find(marker) == std::string::npos) {
        fail("{}: '{}' has no {{{}}}, so the prompt would not show it. Put {{{}}} into \"{}\".", source,
             part.key, required, required, part.text);
      }
    }
  }
}

}  // namespace

std::string candidate_letter(int index) {
  if (index < 0 || index >= kMaxCandidates)
    fail("candidate index {} has no letter: at most {} candidates (A-Z).", index, kMaxCandidates);
  return std::string(1, static_cast<char>('A' + index));
}

PromptBuilder::PromptBuilder(const Tokenizer& tokenizer, PromptConfig cfg)
    : tokenizer_(tokenizer), cfg_(std::move(cfg)) {
  if (cfg_.max_title_tokens < 1)
    fail("config key 'prompt.max_title_tokens' is {}; it must be at least 1.", cfg_.max_title_tokens);
  template_source_ = cfg_.template_file.empty() ? "the built-in prompt template" : cfg_.template_file;
  if (!cfg_.template_file.empty()) template_ = PromptTemplate::load(cfg_.template_file);
  check_shows_every_part(template_, template_source_);

  // Render a small prompt once: it checks every placeholder, and gives the text that the letters follow.
  const std::string sample = render({"a"}, {"b"});
  const std::vector<int64_t> prompt_ids = tokenizer_.encode(sample, tokenizer_.add_bos(), false);
  for (int j = 0; j < kMaxCandidates; ++j) {
    const std::string letter = candidate_letter(j);
    const std::vector<int64_t> ids = tokenizer_.encode(sample + letter, tokenizer_.add_bos(), false);
    const bool extends =
        ids.size() > prompt_ids.size() && std::equal(prompt_ids.begin(), prompt_ids.end(), ids.begin());
    if (!extends) {
      fail(
          "{}: the tokenizer merges the letter '{}' with the end of the prompt, so the answer has no token "
          "of "
          "its own. End the 'prompt' template with a separator such as \"\\n\".",
          template_source_, letter);
    }
    const int64_t id = ids[prompt_ids.size()];
    if (std::find(letter_ids_.begin(), letter_ids_.end(), id) != letter_ids_.end())
      fail("{}: letters share the token id {}; the verbalizer needs one token per letter.", template_source_,
           id);
    letter_ids_.push_back(id);
  }
}

std::string PromptBuilder::truncate_title(const std::string& title) const {
  std::vector<int64_t> ids = tokenizer_.encode(title, false, false);
  if (ids.size() <= static_cast<size_t>(cfg_.max_title_tokens)) return title;
  ids.resize(static_cast<size_t>(cfg_.max_title_tokens));
  return tokenizer_.decode(ids);
}

std::string PromptBuilder::render(const std::vector<std::string>& history_titles,
                                  const std::vector<std::string>& candidate_titles) const {
  if (candidate_titles.size() > static_cast<size_t>(kMaxCandidates))
    fail("{} candidates given; the prompt labels at most {} (A-Z).", candidate_titles.size(), kMaxCandidates);
  std::string history, candidates;
  for (size_t i = 0; i < history_titles.size(); ++i) {
    if (i > 0) history += template_.separator;
    history +=
        substitute(template_.history_item, {{"index", std::to_string(i + 1)}, {"title", history_titles[i]}},
                   template_source_ + ", history_item");
  }
  for (size_t j = 0; j < candidate_titles.size(); ++j) {
    if (j > 0) candidates += template_.separator;
    candidates +=
        substitute(template_.candidate_item,
                   {{"letter", candidate_letter(static_cast<int>(j))}, {"title", candidate_titles[j]}},
                   template_source_ + ", candidate_item");
  }
  const std::string input = substitute(template_.input, {{"history", history}, {"candidates", candidates}},
                                       template_source_ + ", input");
  return substitute(template_.prompt, {{"instruction", template_.instruction}, {"input", input}},
                    template_source_ + ", prompt");
}

std::vector<int64_t> PromptBuilder::encode(const std::vector<std::string>& history_titles,
                                           const std::vector<std::string>& candidate_titles) const {
  const size_t budget = static_cast<size_t>(std::max(cfg_.max_length - 2, 0));
  const auto encode_keeping = [&](size_t keep) {
    const std::vector<std::string> kept(history_titles.end() - static_cast<ptrdiff_t>(keep),
                                        history_titles.end());
    return tokenizer_.encode(render(kept, candidate_titles), tokenizer_.add_bos(), false);
  };
  std::vector<int64_t> ids = encode_keeping(history_titles.size());
  if (ids.size() <= budget) return ids;
  // The longest suffix of the history that fits: the token count grows with every kept item.
  size_t fits = 0, too_long = history_titles.size();
  std::vector<int64_t> best = encode_keeping(0);
  if (best.size() > budget) {
    fail(
        "the prompt needs {} tokens without any history, more than prompt.max_length - 2 = {}. Raise "
        "prompt.max_length, lower prompt.max_title_tokens or use fewer candidates.",
        best.size(), budget);
  }
  while (too_long - fits > 1) {
    const size_t mid = (fits + too_long) / 2;
    std::vector<int64_t> trial = encode_keeping(mid);
    if (trial.size() <= budget) {
      fits = mid;
      best = std::move(trial);
    } else {
      too_long = mid;
    }
  }
  return best;
}

PromptSettings::PromptSettings(const PromptBuilder& builder, int max_history)
    : max_history(max_history),
      max_title_tokens(builder.config().max_title_tokens),
      max_length(builder.config().max_length),
      prompt_template(builder.prompt_template()) {}

void save_prompt_settings(const fs::path& dir, const PromptSettings& settings) {
  write_file_atomic(dir / kPromptSettingsFile, config::to_yaml(settings));
}

void check_prompt_settings(const fs::path& dir, const PromptSettings& serving) {
  const fs::path file = dir / kPromptSettingsFile;
  if (!fs::exists(file)) return;
  const PromptSettings trained = config::load<PromptSettings>(config::CommandLine{file, {}, false});
  const std::string want = config::to_yaml(trained), got = config::to_yaml(serving);
  if (want == got) return;
  std::string differences;
  std::istringstream want_lines(want), got_lines(got);
  for (std::string a, b; std::getline(want_lines, a) && std::getline(got_lines, b);) {
    if (a != b) differences += fmt::format("\n  trained: {}\n  serving: {}", a, b);
  }
  fail(
      "{}: the adapter was trained on other prompts than this run would build:{}\nServe with the training "
      "run's max_history and prompt.* settings (the template file's text must match, not only its name).",
      file.string(), differences);
}

}  // namespace lrec::llm
