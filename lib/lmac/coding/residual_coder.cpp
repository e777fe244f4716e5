#include "lmac/coding/residual_coder.hpp"

#include <algorithm>

#include "lmac/coding/arithmetic_coder.hpp"
#include "lmac/common/error.hpp"

namespace lmac {
namespace {

constexpr int kProbBits = 12;
constexpr uint32_t kProbOne = 1u << kProbBits;

// P(bit = 0) in 12 bits for each context, updated by 1/16 of the error.
class BitModels {
 public:
  explicit BitModels(int bytes_per_sample)
      : bps_(bytes_per_sample),
        p0_(static_cast<size_t>(bytes_per_sample) * 16, kProbOne / 2),
        history_(static_cast<size_t>(bytes_per_sample), 0) {}
  uint32_t& prob(size_t i) { return p0_[context(i)]; }
  void update(size_t i, int bit) {
    uint32_t& p = p0_[context(i)];
    if (bit)
      p -= p >> 4;
    else
      p += (kProbOne - p) >> 4;
    p = std::clamp<uint32_t>(p, 32, kProbOne - 32);
    uint8_t& h = history_[i % static_cast<size_t>(bps_)];
    h = static_cast<uint8_t>(((h << 1) | bit) & 15);
  }

 private:
  size_t context(size_t i) const {
    size_t k = i % static_cast<size_t>(bps_);
    return k * 16 + history_[k];
  }
  int bps_;
  std::vector<uint32_t> p0_;
  std::vector<uint8_t> history_;
};

}  // namespace

Bytes pack_bits(std::span<const uint8_t> bits) {
  Bytes out((bits.size() + 7) / 8, 0);
  for (size_t i = 0; i < bits.size(); ++i)
    if (bits[i] & 1) out[i >> 3] = static_cast<uint8_t>(out[i >> 3] | (0x80 >> (i & 7)));
  return out;
}

std::vector<uint8_t> unpack_bits(ByteSpan packed, size_t count) {
  if (packed.size() != (count + 7) / 8) fail_format("packed residual bits have the wrong size");
  std::vector<uint8_t> bits(count);
  for (size_t i = 0; i < count; ++i) bits[i] = (packed[i >> 3] >> (7 - (i & 7))) & 1;
  return bits;
}

CodedResidual encode_residual(std::span<const uint8_t> bits, int bytes_per_sample) {
  BitModels models(bytes_per_sample);
  ArithmeticEncoder enc;
  for (size_t i = 0; i < bits.size(); ++i) {
    uint32_t p0 = models.prob(i);
    int bit = bits[i] & 1;
    enc.encode(bit ? p0 : 0, bit ? kProbOne - p0 : p0, kProbOne);
    models.update(i, bit);
  }
  Bytes modeled = enc.finish();
  Bytes packed = pack_bits(bits);
  if (modeled.size() < packed.size()) return {ResidualMode::Modeled, std::move(modeled)};
  return {ResidualMode::Packed, std::move(packed)};
}

std::vector<uint8_t> decode_residual(const CodedResidual& coded, size_t count, int bytes_per_sample) {
  if (coded.mode == ResidualMode::Packed) return unpack_bits(coded.bytes, count);
  if (coded.mode != ResidualMode::Modeled) fail_format("unknown residual coding mode");
  BitModels models(bytes_per_sample);
  ArithmeticDecoder dec(coded.bytes);
  std::vector<uint8_t> bits(count);
  for (size_t i = 0; i < count; ++i) {
    uint32_t p0 = models.prob(i);
    int bit = dec.target(kProbOne) >= p0 ? 1 : 0;
    dec.consume(bit ? p0 : 0, bit ? kProbOne - p0 : p0, kProbOne);
    models.update(i, bit);
    bits[i] = static_cast<uint8_t>(bit);
  }
  if (dec.overrun_bits() > 64) fail_format("residual bits are truncated");
  return bits;
}

}  // namespace lmac
