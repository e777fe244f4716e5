// What the differential fuzz targets share: the input read as a stream of bytes, floats
// with the values that break an order or a rounding, bits with NaN counted as one, and
// a run on every path the engine's arithmetic takes.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "lmac/common/simd_level.hpp"
#include "lmac/lm/backend.hpp"

namespace lmac::fuzz {

// The input's bytes in order; past its end, a xorshift stream seeded by what was read,
// so that a short input still fills a whole case (and its bytes still decide it).
class InputBytes {
 public:
  InputBytes(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t next() {
    if (at_ < size_) {
      state_ = state_ * 31 + data_[at_];
      return data_[at_++];
    }
    state_ ^= state_ << 13, state_ ^= state_ >> 7, state_ ^= state_ << 17;
    return static_cast<uint8_t>(state_ >> 24);
  }
  uint16_t next16() { return static_cast<uint16_t>(next() | next() << 8); }

 private:
  const uint8_t* data_;
  size_t size_, at_ = 0;
  uint64_t state_ = 0x9E3779B97F4A7C15ull;
};

// Mostly moderate values of either sign (up to 128 scale), with zeros of both signs,
// subnormals, huge values, infinities, NaN, -87 and the float above it (the frequency
// tables' cutoff), and any bits at all.
inline float hard_float(InputBytes& in, float scale) {
  const uint8_t kind = in.next();
  const auto lo = static_cast<int8_t>(in.next());
  switch (kind >> 4) {
    case 0:
      return (kind & 1) ? -0.0f : 0.0f;
    case 1:
      return std::ldexp(static_cast<float>(lo), -140);
    case 2:
      return std::ldexp(static_cast<float>(lo), 100 + (kind & 15));
    case 3:
      return (kind & 1) ? INFINITY : (kind & 2) ? -INFINITY : NAN;
    case 4:
      return (kind & 1) ? -87.0f : std::nextafter(-87.0f, 0.0f);
    case 5: {
      const uint32_t b = uint32_t{static_cast<uint8_t>(lo)} << 24 | uint32_t{kind} << 16 | in.next16();
      float f;
      std::memcpy(&f, &b, 4);
      return f;
    }
    default:
      return scale * std::ldexp(static_cast<float>(lo), -(kind & 7));
  }
}

// A float's bits, every NaN counted as one value (which NaN an operation yields is never
// observed: docs/ARITHMETIC.md §1).
inline uint32_t canonical_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return std::isnan(f) ? 0x7FC00000u : b;
}

// run(backend) on the scalar CPU path, then on each other SIMD level this CPU has (AVX2,
// also without AVX-VNNI when `without_vnni`, AVX-512) and on the grid backend (the CUDA
// kernels' arithmetic on the CPU), each result handed to check(scalar, got, where);
// returns the scalar path's result.
template <typename Run, typename Check>
auto on_every_path(Run&& run, Check&& check, bool without_vnni = false) {
  const auto at_level = [&](int level, bool vnni) {
    set_cpu_simd_level(level);
    set_cpu_avx_vnni(vnni);
    auto got = run(*make_cpu_backend(1));
    set_cpu_simd_level(2);
    set_cpu_avx_vnni(true);
    return got;
  };
  auto want = at_level(0, false);
  const int top = simd_level();
  if (top >= 1) check(want, at_level(1, true), "with AVX2");
  if (top >= 1 && without_vnni) check(want, at_level(1, false), "with AVX2 without AVX-VNNI");
  if (top >= 2) check(want, at_level(2, true), "with AVX-512");
  check(want, run(*make_grid_backend(1)), "on the grid backend");
  return want;
}

}  // namespace lmac::fuzz
