#include "core/safetensors.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"

namespace lrec::safetensors {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct DTypeEntry {
  DType dtype;
  const char* name;
  size_t size;
  at::ScalarType scalar;
};

constexpr DTypeEntry kDTypes[] = {
    {DType::kF64, "F64", 8, at::kDouble}, {DType::kF32, "F32", 4, at::kFloat},
    {DType::kF16, "F16", 2, at::kHalf},   {DType::kBF16, "BF16", 2, at::kBFloat16},
    {DType::kI64, "I64", 8, at::kLong},   {DType::kI32, "I32", 4, at::kInt},
    {DType::kU8, "U8", 1, at::kByte},     {DType::kBool, "BOOL", 1, at::kBool},
};

const DTypeEntry& entry(DType dtype) {
  for (const auto& e : kDTypes) {
    if (e.dtype == dtype) return e;
  }
  fail("internal: unknown safetensors dtype");
}

DType from_scalar(at::ScalarType scalar, const std::string& tensor_name) {
  for (const auto& e : kDTypes) {
    if (e.scalar == scalar) return e.dtype;
  }
  fail(
      "cannot save tensor '{}': dtype {} has no safetensors equivalent here (supported: F64, F32, F16, BF16, "
      "I64, I32, U8, BOOL).",
      tensor_name, c10::toString(scalar));
}

// Parses the JSON header into validated TensorInfos; `data_size` is the size of the data section.
void parse_header(const std::string& where, std::string_view text, uint64_t data_size,
                  std::vector<TensorInfo>& tensors, std::map<std::string, std::string>& metadata) {
  const json header = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) fail("{}: the safetensors header is not valid JSON.", where);
  if (!header.is_object()) fail("{}: the safetensors header must be a JSON object.", where);
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) fail("{}: __metadata__ must be an object of strings.", where);
      for (const auto& [key, v] : value.items()) {
        if (!v.is_string()) fail("{}: __metadata__['{}'] must be a string.", where, key);
        metadata[key] = v.get<std::string>();
      }
      continue;
    }
    if (!value.is_object()) fail("{}: tensor '{}' must be described by an object.", where, name);
    const auto dtype = value.find("dtype");
    const auto shape = value.find("shape");
    const auto offsets = value.find("data_offsets");
    if (dtype == value.end() || !dtype->is_string() || shape == value.end() || !shape->is_array() ||
        offsets == value.end() || !offsets->is_array() || offsets->size() != 2) {
      fail("{}: tensor '{}' needs \"dtype\" (string), \"shape\" (list) and \"data_offsets\" ([begin, end]).",
           where, name);
    }
    TensorInfo info;
    info.name = name;
    const std::string dtype_text = dtype->get<std::string>();
    const auto known = std::find_if(std::begin(kDTypes), std::end(kDTypes),
                                    [&](const DTypeEntry& e) { return dtype_text == e.name; });
    if (known == std::end(kDTypes)) {
      fail(
          "{}: tensor '{}' has dtype '{}', which is not supported (F64, F32, F16, BF16, I64, I32, U8, BOOL).",
          where, name, dtype_text);
    }
    info.dtype = known->dtype;
    uint64_t elements = 1;
    for (const auto& d : *shape) {
      if (!d.is_number_unsigned())
        fail("{}: tensor '{}' has a shape entry that is not a non-negative integer.", where, name);
      const uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && elements > UINT64_MAX / dim)
        fail("{}: tensor '{}' has an overflowing shape.", where, name);
      elements *= dim;
      info.shape.push_back(static_cast<int64_t>(dim));
    }
    for (const auto& o : *offsets) {
      if (!o.is_number_unsigned())
        fail("{}: tensor '{}' has data_offsets that are not non-negative integers.", where, name);
    }
    info.begin = (*offsets)[0].get<uint64_t>();
    info.end = (*offsets)[1].get<uint64_t>();
    if (info.begin > info.end || info.end > data_size) {
      fail(
          "{}: tensor '{}' has data_offsets [{}, {}] outside the data section of {} bytes (truncated file?).",
          where, name, info.begin, info.end, data_size);
    }
    if (elements > UINT64_MAX / known->size || elements * known->size != info.end - info.begin) {
      fail("{}: tensor '{}' spans {} bytes, but shape x dtype size needs {} bytes.", where, name,
           info.end - info.begin, elements * known->size);
    }
    tensors.push_back(std::move(info));
  }
  // The data section must be exactly covered: no overlaps, no holes.
  std::vector<const TensorInfo*> by_offset;
  for (const auto& t : tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin < b->begin || (a->begin == b->begin && a->end < b->end);
  });
  uint64_t expected = 0;
  for (const TensorInfo* t : by_offset) {
    if (t->begin != expected) {
      fail("{}: tensor '{}' starts at byte {} of the data section, expected {} ({}).", where, t->name,
           t->begin, expected,
           t->begin < expected ? "it overlaps the previous tensor" : "there is a hole before it");
    }
    expected = t->end;
  }
  if (expected != data_size) {
    fail("{}: the tensors cover {} bytes but the data section has {} bytes.", where, expected, data_size);
  }
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
}

}  // namespace

size_t dtype_size(DType dtype) { return entry(dtype).size; }
std::string dtype_name(DType dtype) { return entry(dtype).name; }

std::shared_ptr<const File> File::open(const fs::path& path) {
  const std::string where = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail("cannot open {}: {}", where, std::strerror(errno));
  struct stat st {};
  ::fstat(fd, &st);
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    fail("{}: {} bytes is too short for a safetensors file (it starts with an 8-byte header length).", where,
         size);
  }
  void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) fail("cannot map {}: {}", where, std::strerror(errno));
  std::shared_ptr<File> file(new File());
  file->path_ = path;
  file->map_ = static_cast<std::byte*>(map);
  file->map_size_ = size;
  uint64_t header_size = 0;
  std::memcpy(&header_size, map, 8);  // little-endian on every platform we build for
  if (header_size > kMaxHeaderBytes) {
    fail("{}: header length {} exceeds the {} byte limit (not a safetensors file, or corrupt).", where,
         header_size, kMaxHeaderBytes);
  }
  if (header_size > size - 8) {
    fail("{}: header length {} runs past the end of the {}-byte file (truncated?).", where, header_size,
         size);
  }
  file->data_offset_ = 8 + header_size;
  const std::string_view text(reinterpret_cast<const char*>(file->map_) + 8, header_size);
  parse_header(where, text, size - file->data_offset_, file->tensors_, file->metadata_);
  file->self_ = file;
  return file;
}

File::~File() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

const TensorInfo* File::find(const std::string& name) const {
  const auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                                   [](const TensorInfo& t, const std::string& n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

const TensorInfo& File::info(const std::string& name) const {
  const TensorInfo* found = find(name);
  if (found == nullptr) fail("{}: has no tensor named '{}'.", path_.string(), name);
  return *found;
}

std::span<const std::byte> File::bytes(const TensorInfo& info) const {
  return {map_ + data_offset_ + info.begin, static_cast<size_t>(info.end - info.begin)};
}

at::Tensor File::tensor(const std::string& name) const {
  const TensorInfo& i = info(name);
  auto keep_alive = self_.lock();
  return at::from_blob(
      map_ + data_offset_ + i.begin, i.shape, [keep_alive](void*) {},
      at::TensorOptions().dtype(entry(i.dtype).scalar));
}

void File::release(const TensorInfo& info) const {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  // Only whole pages inside this tensor's span: neighbours stay mapped.
  const auto begin = reinterpret_cast<uintptr_t>(map_ + data_offset_ + info.begin);
  const auto end = reinterpret_cast<uintptr_t>(map_ + data_offset_ + info.end);
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = end / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

void save(const fs::path& path, const std::map<std::string, at::Tensor>& tensors,
          const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> contiguous;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {  // std::map: sorted names
    if (name == "__metadata__") fail("a tensor cannot be named __metadata__ in {}", path.string());
    const DType dtype = from_scalar(tensor.scalar_type(), name);
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * dtype_size(dtype);
    header[name] = {
        {"dtype", dtype_name(dtype)}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    contiguous.push_back(std::move(t));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // 8-byte alignment of the data section
  const uint64_t header_size = text.size();
  AtomicFileWriter out(path);
  out.write(&header_size, 8);
  out.write(text);
  for (const at::Tensor& t : contiguous) out.write(t.data_ptr(), t.numel() * t.element_size());
  out.commit();
}

std::map<std::string, at::Tensor> load_all(const fs::path& path) {
  const auto file = File::open(path);
  std::map<std::string, at::Tensor> out;
  for (const auto& info : file->tensors()) out[info.name] = file->tensor(info.name).clone();
  return out;
}

Checkpoint Checkpoint::open(const fs::path& dir) {
  Checkpoint checkpoint;
  const fs::path index_path = dir / "model.safetensors.index.json";
  const fs::path single = dir / "model.safetensors";
  if (fs::exists(index_path)) {
    const json index = json::parse(read_file(index_path), nullptr, false);
    if (index.is_discarded() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
      fail("{}: expected a JSON object with a \"weight_map\" of tensor name -> shard file.",
           index_path.string());
    }
    std::map<std::string, const File*> shards;
    for (const auto& [name, shard] : index["weight_map"].items()) {
      if (!shard.is_string()) fail("{}: weight_map['{}'] must be a file name.", index_path.string(), name);
      const std::string shard_name = shard.get<std::string>();
      if (!shards.count(shard_name)) {
        checkpoint.files_.push_back(File::open(dir / shard_name));
        shards[shard_name] = checkpoint.files_.back().get();
      }
      if (shards[shard_name]->find(name) == nullptr) {
        fail("{}: names '{}' in {}, but that shard has no such tensor.", index_path.string(), name,
             shard_name);
      }
      checkpoint.index_[name] = shards[shard_name];
    }
  } else if (fs::exists(single)) {
    checkpoint.files_.push_back(File::open(single));
    for (const auto& info : checkpoint.files_.back()->tensors())
      checkpoint.index_[info.name] = checkpoint.files_.back().get();
  } else {
    fail(
        "{}: no model.safetensors or model.safetensors.index.json found. Point to a Hugging Face model "
        "directory.",
        dir.string());
  }
  return checkpoint;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [name, file] : index_) out.push_back(name);
  return out;
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) fail("the checkpoint has no tensor named '{}'.", name);
  return it->second->info(name);
}

at::Tensor Checkpoint::tensor(const std::string& name) const {
  info(name);
  return index_.at(name)->tensor(name);
}

void Checkpoint::release(const std::string& name) const { index_.at(name)->release(info(name)); }

}  // namespace lrec::safetensors
