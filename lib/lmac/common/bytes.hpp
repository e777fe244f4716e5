// Little/big-endian integer access and a bounds-checked reader over untrusted bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lmac/common/error.hpp"

namespace lmac {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;

inline uint64_t load_le(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline uint64_t load_be(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}
inline void store_le(uint8_t* p, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void store_be(uint8_t* p, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
}

inline uint64_t load_endian(const uint8_t* p, int n, bool big_endian) {
  return big_endian ? load_be(p, n) : load_le(p, n);
}
inline void store_endian(uint8_t* p, uint64_t v, int n, bool big_endian) {
  if (big_endian)
    store_be(p, v, n);
  else
    store_le(p, v, n);
}

// Appends fixed-width little-endian fields to a byte vector.
class ByteWriter {
 public:
  explicit ByteWriter(Bytes& out) : out_(out) {}
  void u8(uint64_t v) { put(v, 1); }
  void u16(uint64_t v) { put(v, 2); }
  void u32(uint64_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void bytes(ByteSpan b) {
    if (b.empty()) return;
    size_t at = out_.size();
    out_.resize(at + b.size());
    std::memcpy(out_.data() + at, b.data(), b.size());
  }
  void blob32(ByteSpan b) {  // u32 length, then the bytes
    u32(b.size());
    bytes(b);
  }
  void str16(std::string_view s) {
    u16(s.size());
    bytes(ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }
  // Unsigned LEB128: 7 bits a byte, least significant first, the high bit set on every
  // byte but the last; the shortest form (1 byte below 128, 2 below 16384, ...).
  void varint(uint64_t v) {
    for (; v >= 0x80; v >>= 7) out_.push_back(static_cast<uint8_t>(v | 0x80));
    out_.push_back(static_cast<uint8_t>(v));
  }
  void vblob(ByteSpan b) {  // varint length, then the bytes
    varint(b.size());
    bytes(b);
  }

 private:
  void put(uint64_t v, int n) {
    size_t at = out_.size();
    out_.resize(at + static_cast<size_t>(n));
    store_le(out_.data() + at, v, n);
  }
  Bytes& out_;
};

// Reads little-endian fields from untrusted bytes; any read past the end throws a
// FormatError naming `what`, so no parser ever indexes out of bounds.
class ByteReader {
 public:
  ByteReader(ByteSpan data, std::string what) : data_(data), what_(std::move(what)) {}
  uint8_t u8() { return static_cast<uint8_t>(get(1)); }
  uint16_t u16() { return static_cast<uint16_t>(get(2)); }
  uint32_t u32() { return static_cast<uint32_t>(get(4)); }
  uint64_t u64() { return get(8); }
  ByteSpan bytes(uint64_t n) {
    need(n);
    ByteSpan s = data_.subspan(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  ByteSpan blob32() { return bytes(u32()); }
  std::string str16() {
    ByteSpan s = bytes(u16());
    return {s.begin(), s.end()};
  }
  // ByteWriter::varint's form; a longer form of a value (a final 0x00 byte after the
  // first) or one beyond 64 bits is refused, so each value has exactly one encoding.
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      const uint8_t b = u8();
      if ((shift == 63 && b > 1) || (shift > 0 && b == 0)) fail_format("malformed variable-length integer in " + what_);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
  }
  ByteSpan vblob() { return bytes(varint()); }
  size_t pos() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  void need(uint64_t n) const {
    if (n > remaining()) fail_format("truncated " + what_);
  }

 private:
  uint64_t get(int n) {
    need(static_cast<uint64_t>(n));
    uint64_t v = load_le(data_.data() + pos_, n);
    pos_ += static_cast<size_t>(n);
    return v;
  }
  ByteSpan data_;
  size_t pos_ = 0;
  std::string what_;
};

}  // namespace lmac
