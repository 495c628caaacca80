#include "datasets/cache.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <string_view>

#include "core/atomic_file.h"
#include "core/checksum.h"

namespace lrec::data {

static_assert(std::endian::native == std::endian::little, "the cache format is little-endian");

namespace {

constexpr std::string_view kMagic = "LRECDSET";
constexpr size_t kHeaderSize = 8 + 4 + 8 + 8;

template <class T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

void put_string(std::string& out, std::string_view s) {
  put(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

struct Truncated {};

// Bounds-checked reads of the payload.
class Cursor {
 public:
  explicit Cursor(std::string_view data) : data_(data) {}
  template <class T>
  T get() {
    T value;
    std::memcpy(&value, take(sizeof(T)).data(), sizeof(T));
    return value;
  }
  std::string get_string() { return std::string(take(get<uint32_t>())); }
  std::string_view take(size_t n) {
    if (n > data_.size() - pos_) throw Truncated{};
    const std::string_view out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  bool at_end() const { return pos_ == data_.size(); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

// Checks what the CRC cannot: that the content is a valid Dataset (guards against writer bugs).
std::string invalid_content(const Dataset& ds) {
  if (ds.titles.size() != static_cast<size_t>(ds.num_items) + 1 ||
      ds.item_raw_ids.size() != ds.titles.size() || ds.user_raw_ids.size() != ds.sequences.size()) {
    return "inconsistent table sizes";
  }
  for (const auto& seq : ds.sequences) {
    if (seq.size() < 2) return "a sequence shorter than 2";
    for (const int32_t item : seq) {
      if (item < 1 || item > ds.num_items) return "an item id out of range";
    }
  }
  return "";
}

Dataset decode(std::string_view payload) {
  Cursor in(payload);
  Dataset ds;
  ds.name = in.get_string();
  ds.num_items = in.get<int64_t>();
  if (ds.num_items < 0 || static_cast<uint64_t>(ds.num_items) > payload.size()) throw Truncated{};
  const size_t n = static_cast<size_t>(ds.num_items);
  ds.titles.reserve(n + 1);
  ds.titles.emplace_back();
  for (size_t i = 0; i < n; ++i) ds.titles.push_back(in.get_string());
  ds.item_raw_ids.reserve(n + 1);
  ds.item_raw_ids.emplace_back();
  for (size_t i = 0; i < n; ++i) ds.item_raw_ids.push_back(in.get_string());
  const uint64_t num_users = in.get<uint64_t>();
  if (num_users > payload.size()) throw Truncated{};
  ds.user_raw_ids.reserve(num_users);
  for (uint64_t u = 0; u < num_users; ++u) ds.user_raw_ids.push_back(in.get_string());
  std::vector<uint32_t> lengths(num_users);
  std::memcpy(lengths.data(), in.take(num_users * sizeof(uint32_t)).data(), num_users * sizeof(uint32_t));
  ds.sequences.resize(num_users);
  for (uint64_t u = 0; u < num_users; ++u) {
    const std::string_view bytes = in.take(size_t{lengths[u]} * sizeof(int32_t));
    ds.sequences[u].resize(lengths[u]);
    std::memcpy(ds.sequences[u].data(), bytes.data(), bytes.size());
  }
  if (!in.at_end()) throw Truncated{};
  return ds;
}

}  // namespace

CacheResult read_cache(const std::filesystem::path& path, uint64_t key) {
  CacheResult result;
  if (!std::filesystem::exists(path)) return result;
  const std::string data = read_file(path);
  auto corrupt = [&](std::string reason) {
    result.status = CacheStatus::kCorrupt;
    result.reason = std::move(reason);
    return std::move(result);
  };
  if (data.size() < kHeaderSize + 4 || std::string_view(data).substr(0, 8) != kMagic) {
    return corrupt("not a dataset cache file (bad header)");
  }
  Cursor header(std::string_view(data).substr(8, kHeaderSize - 8));
  const auto version = header.get<uint32_t>();
  const auto stored_key = header.get<uint64_t>();
  const auto payload_size = header.get<uint64_t>();
  if (version != kCacheVersion) {
    result.status = CacheStatus::kStale;
    result.reason =
        fmt::format("written in cache format version {}, this build uses {}", version, kCacheVersion);
    return result;
  }
  if (stored_key != key) {
    result.status = CacheStatus::kStale;
    result.reason = "the raw files or the preprocessing options changed since it was written";
    return result;
  }
  if (payload_size != data.size() - kHeaderSize - 4) {
    return corrupt(
        fmt::format("{} bytes long, the header says {}", data.size(), payload_size + kHeaderSize + 4));
  }
  const std::string_view payload = std::string_view(data).substr(kHeaderSize, payload_size);
  uint32_t stored_crc = 0;
  std::memcpy(&stored_crc, data.data() + kHeaderSize + payload_size, 4);
  if (crc32(payload.data(), payload.size()) != stored_crc) return corrupt("CRC-32 mismatch");
  try {
    result.dataset = decode(payload);
  } catch (const Truncated&) {
    return corrupt("the content is truncated or malformed");
  }
  if (std::string why = invalid_content(result.dataset); !why.empty()) return corrupt(why);
  result.status = CacheStatus::kHit;
  return result;
}

void write_cache(const std::filesystem::path& path, const Dataset& ds, uint64_t key) {
  std::string payload;
  put_string(payload, ds.name);
  put(payload, ds.num_items);
  for (size_t i = 1; i < ds.titles.size(); ++i) put_string(payload, ds.titles[i]);
  for (size_t i = 1; i < ds.item_raw_ids.size(); ++i) put_string(payload, ds.item_raw_ids[i]);
  put(payload, static_cast<uint64_t>(ds.num_users()));
  for (const std::string& id : ds.user_raw_ids) put_string(payload, id);
  for (const auto& seq : ds.sequences) put(payload, static_cast<uint32_t>(seq.size()));
  for (const auto& seq : ds.sequences)
    payload.append(reinterpret_cast<const char*>(seq.data()), seq.size() * 4);

  std::string header(kMagic);
  put(header, kCacheVersion);
  put(header, key);
  put(header, static_cast<uint64_t>(payload.size()));
  std::string trailer;
  put(trailer, crc32(payload.data(), payload.size()));

  AtomicFileWriter writer(path);
  writer.write(header);
  writer.write(payload);
  writer.write(trailer);
  writer.commit();
}

}  // namespace lrec::data
