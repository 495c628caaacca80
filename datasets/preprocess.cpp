#include "datasets/preprocess.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "datasets/text.h"
#include "datasets/titles.h"

namespace lrec::data {

namespace {

struct Entry {
  uint32_t item;
  double timestamp;
};

// Users' interactions grouped per user: entries[offsets[u] .. offsets[u] + sizes[u]).
struct PerUser {
  std::vector<Entry> entries;
  std::vector<size_t> offsets;
  std::vector<size_t> sizes;

  std::span<Entry> of(size_t u) { return std::span(entries).subspan(offsets[u], sizes[u]); }
};

PerUser group_by_user(const RawData& raw, const std::vector<uint32_t>& kept) {
  PerUser out;
  const size_t num_users = raw.users.size();
  out.sizes.assign(num_users, 0);
  for (const uint32_t i : kept) ++out.sizes[raw.interactions[i].user];
  out.offsets.assign(num_users, 0);
  std::exclusive_scan(out.sizes.begin(), out.sizes.end(), out.offsets.begin(), size_t{0});
  out.entries.resize(kept.size());
  std::vector<size_t> fill = out.offsets;
  for (const uint32_t i : kept) {  // file order within each user
    const RawInteraction& r = raw.interactions[i];
    out.entries[fill[r.user]++] = {r.item, r.timestamp};
  }
  return out;
}

void drop_immediate_repeats(PerUser& users) {
  for (size_t u = 0; u < users.sizes.size(); ++u) {
    const std::span<Entry> seq = users.of(u);
    const auto end =
        std::unique(seq.begin(), seq.end(), [](const Entry& a, const Entry& b) { return a.item == b.item; });
    users.sizes[u] = static_cast<size_t>(end - seq.begin());
  }
}

// Marks the users and items that survive the k-core filter.
void kcore(PerUser& users, size_t num_items, const DatasetConfig& cfg, std::vector<uint8_t>& user_alive,
           std::vector<uint8_t>& item_alive) {
  const size_t num_users = users.sizes.size();
  user_alive.assign(num_users, 1);
  item_alive.assign(num_items, 1);
  std::vector<uint32_t> item_count;
  while (true) {
    bool changed = false;
    if (cfg.min_sc > 0) {
      item_count.assign(num_items, 0);
      for (size_t u = 0; u < num_users; ++u) {
        if (!user_alive[u]) continue;
        for (const Entry& e : users.of(u)) item_count[e.item] += item_alive[e.item];
      }
      for (size_t i = 0; i < num_items; ++i) {
        if (item_alive[i] && item_count[i] < static_cast<uint32_t>(cfg.min_sc)) {
          item_alive[i] = 0;
          changed |= item_count[i] > 0;  // items nobody rated change nothing
        }
      }
    }
    if (cfg.min_uc > 0) {
      for (size_t u = 0; u < num_users; ++u) {
        if (!user_alive[u]) continue;
        size_t count = 0;
        for (const Entry& e : users.of(u)) count += item_alive[e.item];
        if (count < static_cast<size_t>(cfg.min_uc)) {
          user_alive[u] = 0;
          changed |= count > 0;
        }
      }
    }
    if (!changed || cfg.kcore == "single_pass") return;
  }
}

}  // namespace

std::vector<uint32_t> raw_id_ranks(const std::vector<std::string>& ids) {
  std::vector<int64_t> numbers(ids.size());
  bool numeric = true;
  for (size_t i = 0; i < ids.size() && numeric; ++i) numeric = parse_int(ids[i], numbers[i]);
  std::vector<uint32_t> order(ids.size());
  std::iota(order.begin(), order.end(), 0u);
  if (numeric) {
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return numbers[a] != numbers[b] ? numbers[a] < numbers[b] : ids[a] < ids[b];
    });
  } else {
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return ids[a] < ids[b]; });
  }
  std::vector<uint32_t> rank(ids.size());
  for (size_t k = 0; k < order.size(); ++k) rank[order[k]] = static_cast<uint32_t>(k);
  return rank;
}

Dataset preprocess(const RawData& raw, const DatasetConfig& cfg, std::string name) {
  if (cfg.min_uc < 0 || cfg.min_sc < 0)
    fail("dataset.min_uc and dataset.min_sc must be >= 0 (0 disables the filter).");
  if (cfg.min_rating > 0 && !raw.has_ratings) {
    fail("dataset.min_rating is {} but the interactions have no rating column. Set dataset.min_rating=0.",
         cfg.min_rating);
  }
  const size_t num_items = raw.items.size();

  // 1-2. Rating threshold, then items without a title.
  std::vector<uint32_t> kept;
  kept.reserve(raw.interactions.size());
  for (size_t i = 0; i < raw.interactions.size(); ++i) {
    if (!raw.has_ratings || raw.interactions[i].rating >= cfg.min_rating)
      kept.push_back(static_cast<uint32_t>(i));
  }
  if (kept.empty()) {
    fail(
        "{}: no interactions left after the min_rating filter (dataset.min_rating = {}). Lower "
        "dataset.min_rating.",
        name, cfg.min_rating);
  }
  std::vector<uint8_t> titled(num_items);
  for (size_t i = 0; i < num_items; ++i) titled[i] = !trim(raw.title(static_cast<uint32_t>(i))).empty();
  std::erase_if(kept, [&](uint32_t i) { return !titled[raw.interactions[i].item]; });
  if (kept.empty()) {
    fail(
        "{}: no interactions left after dropping items without a title: no rated item has a title in the "
        "items "
        "file. Check that the items file belongs to the interactions file (same item ids).",
        name);
  }

  // 3-4. Chronological order per user, then immediate repeats.
  PerUser users = group_by_user(raw, kept);
  const std::vector<uint32_t> item_rank = raw_id_ranks(raw.items.ids());
  const bool by_item = cfg.tie_break == "item_id";
  for (size_t u = 0; u < users.sizes.size(); ++u) {
    const std::span<Entry> seq = users.of(u);
    std::stable_sort(seq.begin(), seq.end(), [&](const Entry& a, const Entry& b) {
      if (a.timestamp != b.timestamp) return a.timestamp < b.timestamp;
      return by_item && item_rank[a.item] < item_rank[b.item];
    });
  }
  if (cfg.remove_immediate_repeats) drop_immediate_repeats(users);

  // 5. k-core.
  std::vector<uint8_t> user_alive, item_alive;
  kcore(users, num_items, cfg, user_alive, item_alive);

  // 6. Dense ids in raw-id order over what is left.
  std::vector<uint8_t> item_used(num_items, 0);
  std::vector<uint32_t> live_users;
  for (size_t u = 0; u < users.sizes.size(); ++u) {
    if (!user_alive[u]) continue;
    size_t count = 0;
    for (const Entry& e : users.of(u)) {
      if (item_alive[e.item]) {
        item_used[e.item] = 1;
        ++count;
      }
    }
    if (count == 0) continue;
    if (count < 2) {
      fail(
          "{}: user {} has only one interaction after filtering, but the leave-one-out split needs at least "
          "two "
          "per user. Set dataset.min_uc to 2 or more.",
          name, raw.users.ids()[u]);
    }
    live_users.push_back(static_cast<uint32_t>(u));
  }
  if (live_users.empty()) {
    fail(
        "{}: no interactions left after the k-core filter (dataset.min_uc = {}, dataset.min_sc = {}, kcore = "
        "{}). "
        "Lower dataset.min_uc / dataset.min_sc.",
        name, cfg.min_uc, cfg.min_sc, cfg.kcore);
  }
  const std::vector<uint32_t> user_rank = raw_id_ranks(raw.users.ids());
  std::sort(live_users.begin(), live_users.end(),
            [&](uint32_t a, uint32_t b) { return user_rank[a] < user_rank[b]; });
  std::vector<uint32_t> items_in_order;
  for (size_t i = 0; i < num_items; ++i) {
    if (item_used[i]) items_in_order.push_back(static_cast<uint32_t>(i));
  }
  std::sort(items_in_order.begin(), items_in_order.end(),
            [&](uint32_t a, uint32_t b) { return item_rank[a] < item_rank[b]; });

  Dataset ds;
  ds.name = std::move(name);
  ds.num_items = static_cast<int64_t>(items_in_order.size());
  ds.titles.assign(1, "");
  ds.item_raw_ids.assign(1, "");
  std::vector<int32_t> dense(num_items, 0);
  for (const uint32_t i : items_in_order) {
    dense[i] = static_cast<int32_t>(ds.titles.size());
    ds.item_raw_ids.push_back(raw.items.ids()[i]);
    const std::string& title = raw.title(i);
    ds.titles.push_back(raw.movielens_titles && cfg.clean_titles ? clean_movielens_title(title)
                                                                 : std::string(trim(title)));
  }
  ds.sequences.reserve(live_users.size());
  for (const uint32_t u : live_users) {
    ds.user_raw_ids.push_back(raw.users.ids()[u]);
    std::vector<int32_t>& seq = ds.sequences.emplace_back();
    for (const Entry& e : users.of(u)) {
      if (item_alive[e.item]) seq.push_back(dense[e.item]);
    }
  }
  return ds;
}

}  // namespace lrec::data
