#include "llm_ranker/tokenizer.h"

#include <sentencepiece_processor.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace lrec::llm {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

json read_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail("{}: not a JSON object.", path.string());
  return j;
}

// A special token is a string or an AddedToken object {"content": "<s>", ...}; "" when absent or null.
std::string token_text(const json& config, const std::string& key, const fs::path& path) {
  if (!config.contains(key) || config[key].is_null()) return "";
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  fail("{}: key '{}' must be a token string or an object with \"content\", found {}.", path.string(), key,
       v.dump());
}

}  // namespace

Tokenizer Tokenizer::load(const fs::path& path) {
  const fs::path dir = fs::is_directory(path) ? path : path.parent_path();
  const fs::path model = fs::is_directory(path) ? dir / "tokenizer.model" : path;
  if (!fs::exists(model)) {
    if (fs::exists(dir / "tokenizer.json")) {
      fail(
          "{}: only tokenizer.json (a byte-level BPE tokenizer, as in Llama 3) was found. It is not "
          "supported yet; "
          "a SentencePiece tokenizer.model (Llama 1/2, Mistral) is required.",
          dir.string());
    }
    fail("{}: no SentencePiece tokenizer.model found.", model.string());
  }
  Tokenizer tok;
  tok.sp_ = std::make_shared<sentencepiece::SentencePieceProcessor>();
  const auto status = tok.sp_->Load(model.string());
  if (!status.ok()) fail("{}: not a SentencePiece model ({}).", model.string(), status.ToString());
  tok.bos_id_ = tok.sp_->bos_id();
  tok.eos_id_ = tok.sp_->eos_id();
  tok.unk_id_ = tok.sp_->unk_id();
  tok.pad_id_ = tok.sp_->pad_id();
  // special_tokens_map.json, then tokenizer_config.json (which wins, as in transformers).
  for (const char* name : {"special_tokens_map.json", "tokenizer_config.json"}) {
    const fs::path file = dir / name;
    if (!fs::is_directory(path) || !fs::exists(file)) continue;
    const json config = read_json(file);
    for (auto [key, id] : {std::pair{"bos_token", &tok.bos_id_},
                           {"eos_token", &tok.eos_id_},
                           {"unk_token", &tok.unk_id_},
                           {"pad_token", &tok.pad_id_}}) {
      const std::string text = token_text(config, key, file);
      if (text.empty()) continue;
      const int found = tok.sp_->PieceToId(text);
      if (found == tok.sp_->unk_id() && text != tok.sp_->IdToPiece(found)) {
        fail(
            "{}: {} '{}' is not a piece of {} (tokens added on top of the SentencePiece vocabulary are not "
            "supported).",
            file.string(), key, text, model.string());
      }
      *id = found;
    }
    for (auto [key, flag] : {std::pair{"add_bos_token", &tok.add_bos_}, {"add_eos_token", &tok.add_eos_}}) {
      if (!config.contains(key) || config[key].is_null()) continue;
      if (!config[key].is_boolean()) fail("{}: key '{}' must be true or false.", file.string(), key);
      *flag = config[key].get<bool>();
    }
  }
  return tok;
}

std::vector<int64_t> Tokenizer::encode(std::string_view text) const {
  return encode(text, add_bos_, add_eos_);
}

std::vector<int64_t> Tokenizer::encode(std::string_view text, bool add_bos, bool add_eos) const {
  std::vector<int> ids;
  const auto status = sp_->Encode(text, &ids);
  if (!status.ok()) fail("tokenizer: cannot encode the text ({}).", status.ToString());
  std::vector<int64_t> out;
  out.reserve(ids.size() + 2);
  if (add_bos) out.push_back(bos_id_);
  out.insert(out.end(), ids.begin(), ids.end());
  if (add_eos) out.push_back(eos_id_);
  return out;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  std::vector<int> narrow;
  narrow.reserve(ids.size());
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab_size())
      fail("tokenizer: id {} is outside the vocabulary [0, {}).", id, vocab_size());
    if (id != pad_id_ || pad_id_ == unk_id_) narrow.push_back(static_cast<int>(id));
  }
  std::string text;
  const auto status = sp_->Decode(narrow, &text);
  if (!status.ok()) fail("tokenizer: cannot decode ({}).", status.ToString());
  return text;
}

std::string Tokenizer::id_to_piece(int64_t id) const {
  if (id < 0 || id >= vocab_size())
    fail("tokenizer: id {} is outside the vocabulary [0, {}).", id, vocab_size());
  return sp_->IdToPiece(static_cast<int>(id));
}

int64_t Tokenizer::piece_to_id(std::string_view piece) const { return sp_->PieceToId(piece); }

int64_t Tokenizer::vocab_size() const { return sp_->GetPieceSize(); }

}  // namespace lrec::llm
