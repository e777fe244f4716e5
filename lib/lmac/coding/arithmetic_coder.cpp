#include "lmac/coding/arithmetic_coder.hpp"

#include <bit>

#include "lmac/common/error.hpp"

namespace lmac {
namespace {
constexpr uint64_t kHalf = 1ull << 31;
constexpr uint64_t kQuarter = 1ull << 30;
}  // namespace

void ArithmeticEncoder::emit(int bit) {
  auto put = [&](int b) {
    bitbuf_ = (bitbuf_ << 1) | static_cast<uint32_t>(b);
    if (++nbits_ == 8) {
      out_.push_back(static_cast<uint8_t>(bitbuf_));
      bitbuf_ = 0;
      nbits_ = 0;
    }
  };
  put(bit);
  for (; pending_ > 0; --pending_) put(!bit);
}

void ArithmeticEncoder::encode(uint32_t cum, uint32_t freq, uint32_t total) {
  if (freq == 0 || total > kMaxTotal || static_cast<uint64_t>(cum) + freq > total)
    fail("arithmetic coder: invalid interval");
  const uint64_t range = high_ - low_ + 1;
  high_ = low_ + range * (cum + freq) / total - 1;
  low_ = low_ + range * cum / total;
  for (;;) {
    if (high_ < kHalf) {
      emit(0);
    } else if (low_ >= kHalf) {
      emit(1);
      low_ -= kHalf;
      high_ -= kHalf;
    } else if (low_ >= kQuarter && high_ < 3 * kQuarter) {
      ++pending_;
      low_ -= kQuarter;
      high_ -= kQuarter;
    } else {
      break;
    }
    low_ <<= 1;
    high_ = (high_ << 1) | 1;
  }
}

uint64_t ArithmeticEncoder::bits() const {
  const uint64_t range = high_ - low_ + 1;  // in (2^30, 2^32] after renormalization
  return 8 * out_.size() + static_cast<uint64_t>(nbits_) + pending_ + static_cast<uint64_t>(33 - std::bit_width(range));
}

Bytes ArithmeticEncoder::finish() {
  ++pending_;
  emit(low_ < kQuarter ? 0 : 1);
  if (nbits_ > 0) out_.push_back(static_cast<uint8_t>(bitbuf_ << (8 - nbits_)));
  nbits_ = 0;
  return std::move(out_);
}

ArithmeticDecoder::ArithmeticDecoder(ByteSpan data) : data_(data) {
  for (int i = 0; i < 32; ++i) value_ = (value_ << 1) | static_cast<uint64_t>(next_bit());
}

int ArithmeticDecoder::next_bit() {
  if (bitpos_ >= data_.size() * 8) {
    ++overrun_;
    return 0;
  }
  int bit = (data_[bitpos_ >> 3] >> (7 - (bitpos_ & 7))) & 1;
  ++bitpos_;
  return bit;
}

uint32_t ArithmeticDecoder::target(uint32_t total) const {
  const uint64_t range = high_ - low_ + 1;
  uint64_t t = ((value_ - low_ + 1) * total - 1) / range;
  // Corrupt data can point outside [0, total); clamp so lookups stay in bounds.
  return static_cast<uint32_t>(t < total ? t : total - 1);
}

void ArithmeticDecoder::consume(uint32_t cum, uint32_t freq, uint32_t total) {
  const uint64_t range = high_ - low_ + 1;
  high_ = low_ + range * (cum + freq) / total - 1;
  low_ = low_ + range * cum / total;
  for (;;) {
    if (high_ < kHalf) {
    } else if (low_ >= kHalf) {
      low_ -= kHalf;
      high_ -= kHalf;
      value_ -= kHalf;
    } else if (low_ >= kQuarter && high_ < 3 * kQuarter) {
      low_ -= kQuarter;
      high_ -= kQuarter;
      value_ -= kQuarter;
    } else {
      break;
    }
    low_ <<= 1;
    high_ = (high_ << 1) | 1;
    value_ = ((value_ << 1) | static_cast<uint64_t>(next_bit())) & 0xFFFFFFFFu;
  }
}

}  // namespace lmac
