// Checksums for checkpoint manifests (CRC-32, zlib) and cache keys (64-bit FNV-1a).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

namespace lrec {

uint32_t crc32(const void* data, size_t size, uint32_t seed = 0);
uint32_t crc32_file(const std::filesystem::path& path);

// 64-bit FNV-1a; `seed` chains several pieces into one key.
uint64_t hash64(std::string_view bytes, uint64_t seed = 14695981039346656037ull);
uint64_t hash64_file(const std::filesystem::path& path, uint64_t seed = 14695981039346656037ull);

}  // namespace lrec
