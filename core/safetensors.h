// safetensors: the Hugging Face tensor file format (https://github.com/huggingface/safetensors).
//
// Layout: u64 little-endian header length N, N bytes of JSON header, then the data section.
// The header maps each tensor name to {dtype, shape, data_offsets: [begin, end)} relative to the data
// section, plus an optional "__metadata__" map of strings.
//
// Reading mmaps the file and validates the whole header before any tensor is touched; tensors are
// zero-copy views of the mapping. Writing sorts names, pads the header to 8 bytes and is atomic.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace lrec::safetensors {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kU8, kBool };

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data section
  uint64_t end = 0;
};

// Upstream's bound on the header size.
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

class File {
 public:
  // Maps and validates `path`; throws lrec::Error naming the file and the problem.
  static std::shared_ptr<const File> open(const std::filesystem::path& path);
  ~File();

  const std::filesystem::path& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // sorted by name
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorInfo* find(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;  // throws when absent

  // A CPU tensor viewing the mapped bytes (copy-on-write: writing to it never changes the file).
  // The view keeps the mapping alive.
  at::Tensor tensor(const std::string& name) const;
  std::span<const std::byte> bytes(const TensorInfo& info) const;
  // Drops the pages of one tensor from memory once it was copied elsewhere (loading without a second
  // full copy of a model in RSS).
  void release(const TensorInfo& info) const;

 private:
  File() = default;
  std::filesystem::path path_;
  std::byte* map_ = nullptr;
  size_t map_size_ = 0;
  size_t data_offset_ = 0;  // 8 + header length
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
  std::weak_ptr<const File> self_;
};

// Writes `tensors` (any device, made contiguous on CPU) atomically.
void save(const std::filesystem::path& path, const std::map<std::string, at::Tensor>& tensors,
          const std::map<std::string, std::string>& metadata = {});

// Every tensor of a file as an owning CPU copy.
std::map<std::string, at::Tensor> load_all(const std::filesystem::path& path);

// A model's weights: `model.safetensors`, or the shards named by `model.safetensors.index.json`.
class Checkpoint {
 public:
  static Checkpoint open(const std::filesystem::path& dir);
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return index_.count(name) > 0; }
  const TensorInfo& info(const std::string& name) const;
  at::Tensor tensor(const std::string& name) const;
  void release(const std::string& name) const;

 private:
  std::vector<std::shared_ptr<const File>> files_;
  std::map<std::string, const File*> index_;
};

size_t dtype_size(DType dtype);
std::string dtype_name(DType dtype);
}  // namespace lrec::safetensors
