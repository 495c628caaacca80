#include "core/checksum.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "core/error.h"

namespace lrec {

uint32_t crc32(const void* data, size_t size, uint32_t seed) {
  uLong crc = seed;
  const auto* bytes = static_cast<const Bytef*>(data);
  while (size > 0) {
    const uInt chunk = size > (1u << 30) ? (1u << 30) : static_cast<uInt>(size);
    crc = ::crc32(crc, bytes, chunk);
    bytes += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

namespace {

template <class Fn>
void for_each_chunk(const std::filesystem::path& path, Fn&& fn) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open {}: {}", path.string(), std::strerror(errno));
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto n = static_cast<size_t>(in.gcount());
    if (n > 0) fn(std::string_view(buffer.data(), n));
  }
}

}  // namespace

uint32_t crc32_file(const std::filesystem::path& path) {
  uint32_t crc = 0;
  for_each_chunk(path, [&](std::string_view chunk) { crc = crc32(chunk.data(), chunk.size(), crc); });
  return crc;
}

uint64_t hash64(std::string_view bytes, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t hash64_file(const std::filesystem::path& path, uint64_t seed) {
  uint64_t h = seed;
  for_each_chunk(path, [&](std::string_view chunk) { h = hash64(chunk, h); });
  return h;
}

}  // namespace lrec
