// Typed configs from YAML files plus torchtune-style `section.key=value` overrides.
//
// A config is a plain struct with a `visit` method that names each field:
//
//   struct TrainConfig {
//     double lr = 1e-3;
//     int batch_size = 128;
//     std::string negatives = "random";
//     template <class V> void visit(V& v) {
//       v("lr", lr);
//       v("batch_size", batch_size);
//       v("negatives", negatives, {"random", "retriever"});  // allowed values
//     }
//   };
//
// Nested structs with their own `visit` become YAML sections. `v.required("key", field)` marks a key that
// must be given. Unknown keys, wrong types, values outside the allowed set and missing required keys
// are errors naming the key, the file and line (or the command-line override), and the fix.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/error.h"

namespace lrec::config {

// What the command line said: `--config FILE` and any number of `key=value` overrides.
struct CommandLine {
  std::filesystem::path config_file;
  std::vector<std::string> overrides;
  bool help = false;
};

// Parses `--config FILE` (or `--config=FILE`), `--resume` (= `resume=true`), `--help`, and
// `key=value` overrides. Anything else is an error that shows the usage.
CommandLine parse_command_line(int argc, const char* const* argv, std::string_view usage);

// Where each key came from, for error messages.
struct Provenance {
  std::string file;                              // "" when no file was given
  std::map<std::string, std::string> overrides;  // dotted key -> the override text
  std::string where(const std::string& dotted_key, const YAML::Node& node) const;
};

// Reads the file (if any) and applies the overrides onto the YAML tree.
YAML::Node load_tree(const CommandLine& cli, Provenance& provenance);

namespace detail {

template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

// "an integer", or with `plural` "integers".
template <class T>
std::string type_name(bool plural = false) {
  if constexpr (std::is_same_v<T, bool>)
    return plural ? "booleans" : "a boolean (true or false)";
  else if constexpr (std::is_integral_v<T>)
    return plural ? "integers" : "an integer";
  else if constexpr (std::is_floating_point_v<T>)
    return plural ? "numbers" : "a number";
  else if constexpr (std::is_same_v<T, std::string>)
    return plural ? "strings" : "a string";
  else if constexpr (is_vector<T>::value)
    return "a list of " + type_name<typename T::value_type>(true);
  else
    return "a section";
}

size_t edit_distance(const std::string& a, const std::string& b);

// Closest valid key for "did you mean"; empty when nothing is close.
std::string closest(const std::string& key, const std::vector<std::string>& candidates);

// Collects every dotted key of a schema, for "did you mean" across sections.
class KeyCollector {
 public:
  explicit KeyCollector(std::string prefix, std::vector<std::string>* out)
      : prefix_(std::move(prefix)), out_(out) {}
  template <class T>
  void operator()(const char* key, T& field, std::initializer_list<const char*> = {}) {
    const std::string dotted = prefix_ + key;
    if constexpr (requires(KeyCollector & c) { field.visit(c); }) {
      KeyCollector child(dotted + ".", out_);
      field.visit(child);
    } else {
      out_->push_back(dotted);
    }
  }
  template <class T>
  void required(const char* key, T& field) {
    (*this)(key, field);
  }

 private:
  std::string prefix_;
  std::vector<std::string>* out_;
};

}  // namespace detail

// Fills a struct from a YAML map, checking every key.
class Reader {
 public:
  Reader(YAML::Node node, std::string prefix, const Provenance& provenance,
         const std::vector<std::string>& all_keys)
      : node_(std::move(node)), prefix_(std::move(prefix)), provenance_(provenance), all_keys_(all_keys) {}

  template <class T>
  void operator()(const char* key, T& field, std::initializer_list<const char*> choices = {}) {
    read(key, field, false, choices);
  }
  template <class T>
  void required(const char* key, T& field) {
    read(key, field, true, {});
  }

  // Call after visit(): every key present in the YAML must have been visited.
  void finish() const;

 private:
  template <class T>
  void read(const char* key, T& field, bool required, std::initializer_list<const char*> choices) {
    known_.emplace_back(key);
    const std::string dotted = prefix_ + key;
    const YAML::Node child = node_.IsMap() ? node_[key] : YAML::Node();
    if (!child.IsDefined() || child.IsNull()) {
      if (required) missing(dotted);
      return;
    }
    if constexpr (requires(Reader & r) { field.visit(r); }) {
      if (!child.IsMap()) wrong_type(dotted, child, "a section (a YAML map)");
      Reader sub(child, dotted + ".", provenance_, all_keys_);
      field.visit(sub);
      sub.finish();
    } else {
      convert(dotted, child, field);
      if (choices.size() > 0) check_choice(dotted, child, field, choices);
    }
  }

  template <class T>
  void convert(const std::string& dotted, const YAML::Node& child, T& field) const {
    constexpr bool kList = detail::is_vector<T>::value;
    if ((kList && !child.IsSequence()) || (!kList && !child.IsScalar())) {
      wrong_type(dotted, child, detail::type_name<T>());
    }
    try {
      field = child.as<T>();
    } catch (const YAML::Exception&) {
      wrong_type(dotted, child, detail::type_name<T>());
    }
  }

  template <class T>
  void check_choice(const std::string& dotted, const YAML::Node& child, const T& value,
                    std::initializer_list<const char*> choices) const {
    if constexpr (std::is_same_v<T, std::string>) {
      for (const char* c : choices) {
        if (value == c) return;
      }
      bad_choice(dotted, child, value, choices);
    }
  }

  [[noreturn]] void missing(const std::string& dotted) const;
  [[noreturn]] void wrong_type(const std::string& dotted, const YAML::Node& child,
                               const std::string& expected) const;
  [[noreturn]] void bad_choice(const std::string& dotted, const YAML::Node& child, const std::string& value,
                               std::initializer_list<const char*> choices) const;

  YAML::Node node_;
  std::string prefix_;
  const Provenance& provenance_;
  const std::vector<std::string>& all_keys_;
  std::vector<std::string> known_;
};

// Writes a struct back as YAML, in field order.
class Writer {
 public:
  explicit Writer(YAML::Emitter& out) : out_(out) {}
  template <class T>
  void operator()(const char* key, T& field, std::initializer_list<const char*> = {}) {
    out_ << YAML::Key << key << YAML::Value;
    if constexpr (requires(Writer & w) { field.visit(w); }) {
      out_ << YAML::BeginMap;
      field.visit(*this);
      out_ << YAML::EndMap;
    } else if constexpr (detail::is_vector<T>::value) {
      out_ << YAML::Flow << YAML::BeginSeq;
      for (const auto& x : field) out_ << x;
      out_ << YAML::EndSeq;
    } else {
      out_ << field;
    }
  }
  template <class T>
  void required(const char* key, T& field) {
    (*this)(key, field);
  }

 private:
  YAML::Emitter& out_;
};

template <class T>
std::vector<std::string> all_keys(T& cfg) {
  std::vector<std::string> keys;
  detail::KeyCollector collector("", &keys);
  cfg.visit(collector);
  return keys;
}

template <class T>
T parse(const YAML::Node& root, const Provenance& provenance) {
  T cfg;
  const std::vector<std::string> keys = all_keys(cfg);
  Reader reader(root, "", provenance, keys);
  cfg.visit(reader);
  reader.finish();
  return cfg;
}

// File + overrides -> typed config.
template <class T>
T load(const CommandLine& cli) {
  Provenance provenance;
  const YAML::Node root = load_tree(cli, provenance);
  return parse<T>(root, provenance);
}

template <class T>
std::string to_yaml(const T& cfg) {
  YAML::Emitter out;
  out.SetFloatPrecision(10);
  out.SetDoublePrecision(17);
  out << YAML::BeginMap;
  Writer writer(out);
  const_cast<T&>(cfg).visit(writer);  // Writer only reads the fields
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

// A setting outside its range: fails with "config key 'KEY' must be RULE." Recipes check their ranges
// with it before loading data or models, so that a bad value never reaches a division or a shape.
inline void require(bool ok, std::string_view key, std::string_view rule) {
  if (!ok) fail("config key '{}' must be {}.", key, rule);
}

// Resuming continues the run that wrote the checkpoint: fails when a setting in `current_yaml` differs
// from the checkpoint's resolved config (`checkpoint_config`, a config.yaml), except the keys in
// `may_change` (dotted, e.g. "threads"), naming every difference and the fix.
void check_resume_settings(const std::filesystem::path& checkpoint_config, const std::string& current_yaml,
                           const std::vector<std::string>& may_change);

// Writes the resolved config as `<dir>/config.yaml`, atomically.
void save_resolved(const std::filesystem::path& dir, const std::string& yaml_text);

template <class T>
void save_resolved(const std::filesystem::path& dir, const T& cfg) {
  save_resolved(dir, to_yaml(cfg));
}

}  // namespace lrec::config
