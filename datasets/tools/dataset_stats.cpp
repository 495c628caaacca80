// dataset_stats: loads a dataset as the trainers do and prints the papers' table row.
//
//   dataset_stats --config configs/ml-100k/retriever.yaml
//   dataset_stats dataset.path=../shared/data/ml-latest-small
//   dataset_stats dataset.path=../shared/data/lrurec-ml-1m dataset.min_uc=0 dataset.min_sc=0
//
// Only the `dataset:` section of the config is read, so any trainer config works.
#include <cstdio>

#include "core/config.h"
#include "core/error.h"
#include "datasets/dataset.h"

namespace {

constexpr const char* kUsage =
    "dataset_stats [--config FILE] [dataset.key=value ...]\n"
    "Prints users, items, interactions, average length and density of the dataset configured in the\n"
    "`dataset:` section (the built-in synthetic dataset when dataset.path is empty).";

lrec::data::DatasetConfig load_dataset_section(const lrec::config::CommandLine& cli) {
  lrec::config::Provenance provenance;
  const YAML::Node root = lrec::config::load_tree(cli, provenance);
  lrec::data::DatasetConfig cfg;
  std::vector<std::string> keys = lrec::config::all_keys(cfg);
  for (std::string& key : keys) key = "dataset." + key;
  const YAML::Node section = root["dataset"];
  if (section.IsDefined() && !section.IsNull()) {
    lrec::config::Reader reader(section, "dataset.", provenance, keys);
    cfg.visit(reader);
    reader.finish();
  }
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const lrec::config::CommandLine cli = lrec::config::parse_command_line(argc, argv, kUsage);
    if (cli.help) {
      std::puts(kUsage);
      return 0;
    }
    const lrec::data::DatasetConfig cfg = load_dataset_section(cli);
    const lrec::data::Dataset dataset = lrec::data::load_dataset(cfg);
    std::fputs(lrec::data::format_stats(dataset.name, lrec::data::compute_stats(dataset)).c_str(), stdout);
    return 0;
  } catch (const lrec::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
