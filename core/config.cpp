#include "core/config.h"

#include <algorithm>

#include "core/atomic_file.h"

namespace lrec::config {

namespace fs = std::filesystem;

CommandLine parse_command_line(int argc, const char* const* argv, std::string_view usage) {
  CommandLine cli;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      cli.help = true;
    } else if (arg == "--config") {
      if (i + 1 >= argc) fail("--config needs a file name.\nusage: {}", usage);
      cli.config_file = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      cli.config_file = arg.substr(9);
    } else if (arg == "--resume") {
      cli.overrides.emplace_back("resume=true");
    } else if (arg.find('=') != std::string::npos && arg.rfind("--", 0) != 0) {
      cli.overrides.push_back(arg);
    } else {
      fail("unknown argument '{}'. Overrides are written key=value (e.g. train.lr=0.001).\nusage: {}", arg,
           usage);
    }
  }
  return cli;
}

std::string Provenance::where(const std::string& dotted_key, const YAML::Node& node) const {
  if (auto it = overrides.find(dotted_key); it != overrides.end()) {
    return fmt::format("command-line override '{}'", it->second);
  }
  const YAML::Mark mark = node.Mark();
  if (!file.empty() && !mark.is_null()) return fmt::format("{}:{}", file, mark.line + 1);
  return file.empty() ? std::string("config") : file;
}

YAML::Node load_tree(const CommandLine& cli, Provenance& provenance) {
  YAML::Node root(YAML::NodeType::Map);
  if (!cli.config_file.empty()) {
    provenance.file = cli.config_file.string();
    if (!fs::exists(cli.config_file)) {
      fail("config file {} does not exist. Pass an existing file with --config (see configs/).",
           provenance.file);
    }
    try {
      root = YAML::LoadFile(provenance.file);
    } catch (const YAML::ParserException& e) {
      fail("{}:{}:{}: YAML syntax error: {}", provenance.file, e.mark.line + 1, e.mark.column + 1, e.msg);
    }
    if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
    if (!root.IsMap()) fail("{}: the config must be a YAML map of key: value entries.", provenance.file);
  }
  for (const std::string& text : cli.overrides) {
    const size_t eq = text.find('=');
    const std::string key = text.substr(0, eq);
    const std::string value = text.substr(eq + 1);
    if (key.empty()) fail("override '{}' has no key; write it as section.key=value.", text);
    YAML::Node parsed;
    try {
      parsed = YAML::Load(value);
    } catch (const YAML::ParserException& e) {
      fail("command-line override '{}': the value is not valid YAML ({}).", text, e.msg);
    }
    YAML::Node node = root;
    size_t start = 0;
    for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', start)) {
      const std::string part = key.substr(start, dot - start);
      YAML::Node next = node[part];
      if (next.IsDefined() && !next.IsNull() && !next.IsMap()) {
        fail("command-line override '{}': '{}' is a value, not a section.", text, key.substr(0, dot));
      }
      if (!next.IsDefined() || next.IsNull()) node[part] = YAML::Node(YAML::NodeType::Map);
      node.reset(node[part]);  // reset, not assign: assignment would overwrite the parent's value
      start = dot + 1;
    }
    node[key.substr(start)] = parsed;
    provenance.overrides[key] = text;
  }
  return root;
}

namespace detail {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string closest(const std::string& key, const std::vector<std::string>& candidates) {
  const auto leaf = [](const std::string& k) { return k.substr(k.rfind('.') + 1); };
  std::string best;
  size_t best_distance = std::max<size_t>(3, key.size() / 3) + 1;
  for (const std::string& candidate : candidates) {
    // The same leaf in another section is a near miss too ("lr" vs "train.lr").
    const size_t d = std::min(edit_distance(key, candidate), edit_distance(leaf(key), leaf(candidate)) + 1);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

}  // namespace detail

void Reader::finish() const {
  if (!node_.IsMap()) return;
  for (const auto& entry : node_) {
    const std::string key = entry.first.as<std::string>();
    if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
    const std::string dotted = prefix_ + key;
    const std::string suggestion = detail::closest(dotted, all_keys_);
    std::string valid;
    for (const std::string& k : known_) valid += (valid.empty() ? "" : ", ") + k;
    fail("{}: unknown config key '{}'.{} Valid keys{}: {}.", provenance_.where(dotted, entry.first), dotted,
         suggestion.empty() ? "" : fmt::format(" Did you mean '{}'?", suggestion),
         prefix_.empty() ? "" : fmt::format(" in '{}'", prefix_.substr(0, prefix_.size() - 1)), valid);
  }
}

void Reader::missing(const std::string& dotted) const {
  fail("{}: required config key '{}' is missing. Add it to the config file or pass {}=VALUE.",
       provenance_.file.empty() ? std::string("config") : provenance_.file, dotted, dotted);
}

void Reader::wrong_type(const std::string& dotted, const YAML::Node& child,
                        const std::string& expected) const {
  std::string found = child.IsScalar()     ? "'" + child.Scalar() + "'"
                      : child.IsSequence() ? "a list"
                                           : "a section";
  fail("{}: config key '{}' expects {}, got {}.", provenance_.where(dotted, child), dotted, expected, found);
}

void Reader::bad_choice(const std::string& dotted, const YAML::Node& child, const std::string& value,
                        std::initializer_list<const char*> choices) const {
  std::string allowed;
  for (const char* c : choices) allowed += fmt::format("{}'{}'", allowed.empty() ? "" : ", ", c);
  fail("{}: config key '{}' is '{}', but must be one of {}.", provenance_.where(dotted, child), dotted, value,
       allowed);
}

namespace {

// Every leaf of a YAML tree as "a.b.c" -> its YAML text (sequences whole).
void flatten(const YAML::Node& node, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      flatten(kv.second, prefix.empty() ? key : prefix + "." + key, out);
    }
    return;
  }
  YAML::Emitter text;
  text.SetSeqFormat(YAML::Flow);
  text << node;
  out[prefix] = text.c_str();
}

}  // namespace

void check_resume_settings(const fs::path& checkpoint_config, const std::string& current_yaml,
                           const std::vector<std::string>& may_change) {
  std::map<std::string, std::string> then, now;
  flatten(YAML::LoadFile(checkpoint_config.string()), "", then);
  flatten(YAML::Load(current_yaml), "", now);
  std::string differences;
  for (const auto& [key, value] : now) {
    if (std::find(may_change.begin(), may_change.end(), key) != may_change.end()) continue;
    const auto it = then.find(key);
    const std::string before = it == then.end() ? "(not set)" : it->second;
    if (before != value)
      differences += fmt::format("\n  {}: {} in the checkpoint, {} now", key, before, value);
  }
  if (!differences.empty()) {
    fail(
        "--resume continues the run of {}, but these settings differ from it:{}\nResume with the run's "
        "settings (see that file), or start a new run in another output_dir.",
        checkpoint_config.string(), differences);
  }
}

void save_resolved(const fs::path& dir, const std::string& yaml_text) {
  write_file_atomic(dir / "config.yaml", yaml_text);
}

}  // namespace lrec::config
