// llama_infer: runs a Hugging Face Llama checkpoint.
//   llama_infer --model DIR --ids "1 2 3" --greedy N            prints "ids: <N generated ids>"
//   llama_infer --model DIR --ids "1 2 3" --logits-out F.safetensors
//                                        writes the logits of every input position, F32 "logits" [T, V]
//   llama_infer --model DIR --prompt "Once upon a time" --greedy N
//                                        tokenizes with DIR/tokenizer.model, stops at EOS, prints ids and
//                                        text
// Options: --dtype {fp32,bf16} (default fp32), --threads N (default 0 = all cores).
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "core/error.h"
#include "core/log.h"
#include "core/runtime.h"
#include "core/safetensors.h"
#include "llm_ranker/generate.h"
#include "llm_ranker/llama_loader.h"
#include "llm_ranker/tokenizer.h"

namespace lrec::llm {
namespace {

constexpr const char* kUsage =
    "usage: llama_infer --model DIR (--ids \"1 2 3\" | --prompt TEXT) [--greedy N] [--logits-out "
    "FILE.safetensors]\n"
    "                   [--dtype fp32|bf16] [--threads N]";

std::map<std::string, std::string> parse_args(int argc, char** argv) {
  static const std::vector<std::string> kFlags = {"--model",      "--ids",   "--prompt", "--greedy",
                                                  "--logits-out", "--dtype", "--threads"};
  std::map<std::string, std::string> args;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::puts(kUsage);
      std::exit(0);
    }
    if (std::find(kFlags.begin(), kFlags.end(), flag) == kFlags.end())
      fail("unknown argument '{}'.\n{}", flag, kUsage);
    if (i + 1 >= argc) fail("{} needs a value.\n{}", flag, kUsage);
    args[flag] = argv[++i];
  }
  if (!args.count("--model")) fail("--model DIR is required.\n{}", kUsage);
  if (args.count("--ids") == args.count("--prompt"))
    fail("give exactly one of --ids and --prompt.\n{}", kUsage);
  if (!args.count("--greedy") && !args.count("--logits-out"))
    fail("give --greedy N and/or --logits-out FILE.\n{}", kUsage);
  return args;
}

int64_t parse_int(const std::string& flag, const std::string& text) {
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) fail("{} expects an integer, found '{}'.", flag, text);
  return value;
}

std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  std::istringstream in(text);
  std::string token;
  while (in >> token) ids.push_back(parse_int("--ids", token));
  if (ids.empty()) fail("--ids needs at least one token id.");
  return ids;
}

std::vector<int64_t> to_vector(const at::Tensor& ids) {
  const at::Tensor c = ids.contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

int run(int argc, char** argv) {
  const auto args = parse_args(argc, argv);
  configure_runtime(args.count("--threads") ? static_cast<int>(parse_int("--threads", args.at("--threads")))
                                            : 0);
  const std::string dtype_name = args.count("--dtype") ? args.at("--dtype") : "fp32";
  if (dtype_name != "fp32" && dtype_name != "bf16")
    fail("--dtype must be fp32 or bf16, found '{}'.", dtype_name);
  const std::filesystem::path dir = args.at("--model");
  LlamaForCausalLM model = load_llama(dir, parse_dtype(dtype_name));
  std::optional<Tokenizer> tokenizer;
  std::vector<int64_t> ids;
  if (args.count("--prompt")) {
    tokenizer = Tokenizer::load(dir);
    ids = tokenizer->encode(args.at("--prompt"));
  } else {
    ids = parse_ids(args.at("--ids"));
  }
  for (int64_t id : ids) {
    if (id < 0 || id >= model->config().vocab_size)
      fail("token id {} is outside [0, {}).", id, model->config().vocab_size);
  }
  c10::NoGradGuard no_grad;
  const at::Tensor input = at::tensor(ids, at::kLong).unsqueeze(0);  // [1, T]
  if (args.count("--logits-out")) {
    const at::Tensor logits = model->forward(input, {}, LlamaForCausalLMImpl::Logits::kAll)[0];  // [T, V]
    safetensors::save(args.at("--logits-out"), {{"logits", logits.to(at::kFloat).contiguous()}});
    log::info("wrote logits {} to {}", c10::str(logits.sizes()), args.at("--logits-out"));
  }
  if (args.count("--greedy")) {
    GenerateOptions opts;
    opts.max_new_tokens = parse_int("--greedy", args.at("--greedy"));
    if (opts.max_new_tokens < 0) fail("--greedy must be >= 0.");
    if (tokenizer) opts.stop_token = tokenizer->eos_id();
    const std::vector<int64_t> generated = to_vector(generate_greedy(*model, input, {}, opts)[0]);
    std::printf("ids: %s\n", fmt::format("{}", fmt::join(generated, " ")).c_str());
    if (tokenizer) {
      std::vector<int64_t> all = ids;
      all.insert(all.end(), generated.begin(), generated.end());
      std::printf("text: %s\n", tokenizer->decode(all).c_str());
    }
  }
  return 0;
}

}  // namespace
}  // namespace lrec::llm

int main(int argc, char** argv) {
  try {
    return lrec::llm::run(argc, argv);
  } catch (const std::exception& e) {
    lrec::log::error("{}", e.what());
    return 1;
  }
}
