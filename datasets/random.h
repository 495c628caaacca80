// Seeded randomness that gives the same numbers with every standard library: std::mt19937_64 is fully
// specified, but std::uniform_int_distribution and std::shuffle are not, so we do our own mapping.
#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace lrec::data {

// SplitMix64 finalizer: derives independent seeds for separate streams (e.g. one per epoch).
inline uint64_t mix_seed(uint64_t seed, uint64_t stream) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform integer in [0, n), n > 0, without modulo bias (Lemire's multiply-and-reject).
inline uint64_t uniform_index(std::mt19937_64& rng, uint64_t n) {
  unsigned __int128 m = static_cast<unsigned __int128>(rng()) * n;
  auto low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(rng()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

// Uniform double in [0, 1) from the top 53 bits.
inline double uniform_unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Fisher-Yates.
template <class T>
void shuffle(std::vector<T>& values, std::mt19937_64& rng) {
  for (size_t i = values.size(); i > 1; --i) std::swap(values[i - 1], values[uniform_index(rng, i)]);
}

}  // namespace lrec::data
