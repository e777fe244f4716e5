#include "lmac/serial/serializer.hpp"

#include <fmt/format.h>

#include "lmac/common/error.hpp"

namespace lmac {

std::string SerialOptions::describe() const {
  std::string layout_s = layout == Layout::Interleaved ? "interleaved"
                         : layout == Layout::Planar    ? "planar"
                                                       : fmt::format("blocked:{}", block_n);
  return fmt::format("{} mapping, {}, {}offset binary, {}", mapping == Mapping::Shift ? "shift" : "mask",
                     byte_order == ByteOrder::MsbFirst ? "msb first" : "file byte order", offset_binary ? "" : "no ",
                     layout_s);
}

Mapping parse_mapping(const std::string& s) {
  if (s == "shift") return Mapping::Shift;
  if (s == "mask") return Mapping::Mask;
  fail("unknown mapping '" + s + "' (shift or mask)");
}

Layout parse_layout(const std::string& s, uint32_t* block_n) {
  if (s == "interleaved" || s == "interleave") return Layout::Interleaved;
  if (s == "planar") return Layout::Planar;
  if (s.rfind("blocked:", 0) == 0) {
    unsigned long n = 0;
    try {
      n = std::stoul(s.substr(8));
    } catch (...) {
      n = 0;
    }
    if (n == 0 || n > (1u << 24)) fail("bad layout '" + s + "': blocked:N needs N >= 1");
    *block_n = static_cast<uint32_t>(n);
    return Layout::Blocked;
  }
  fail("unknown layout '" + s + "' (interleaved, planar or blocked:N)");
}

namespace {

// Index within the file's bytes of the sample byte that is serialized k-th.
int file_byte_index(const PcmFormat& f, const SerialOptions& o, int k) {
  int n = f.bytes_per_sample();
  bool file_msb_first = f.big_endian;
  bool want_msb_first = o.byte_order == ByteOrder::MsbFirst;
  return (want_msb_first == file_msb_first || o.byte_order == ByteOrder::FileOrder) ? k : n - 1 - k;
}

// The XOR applied to each byte of a sample (in file order) for offset binary.
uint8_t sign_flip(const PcmFormat& f, const SerialOptions& o, int file_byte) {
  if (!o.offset_binary || f.kind != SampleKind::Signed) return 0;
  int msb = f.big_endian ? 0 : f.bytes_per_sample() - 1;
  return file_byte == msb ? 0x80 : 0;
}

}  // namespace

std::vector<size_t> sample_order(const SerialOptions& o, size_t frames, size_t channels) {
  std::vector<size_t> order;
  order.reserve(frames * channels);
  size_t block = o.layout == Layout::Interleaved ? 0 : o.layout == Layout::Planar ? frames : o.block_n;
  if (block == 0 || channels == 1) {
    for (size_t i = 0; i < frames * channels; ++i) order.push_back(i);
    return order;
  }
  for (size_t start = 0; start < frames; start += block) {
    size_t end = std::min(frames, start + block);
    for (size_t c = 0; c < channels; ++c)
      for (size_t f = start; f < end; ++f) order.push_back(f * channels + c);
  }
  return order;
}

Serialized serialize(const PcmFormat& f, const SerialOptions& o, ByteSpan chunk) {
  const size_t fb = static_cast<size_t>(f.frame_bytes());
  if (chunk.size() % fb) fail("chunk is not made of whole frames");
  const int bps = f.bytes_per_sample();
  auto order = sample_order(o, chunk.size() / fb, f.channels);
  Serialized s;
  s.symbols.resize(chunk.size());
  s.residual.resize(chunk.size());
  size_t out = 0;
  for (size_t sample : order) {
    const uint8_t* p = chunk.data() + sample * static_cast<size_t>(bps);
    for (int k = 0; k < bps; ++k, ++out) {
      int fi = file_byte_index(f, o, k);
      uint8_t b = static_cast<uint8_t>(p[fi] ^ sign_flip(f, o, fi));
      bool shift = o.mapping == Mapping::Shift;
      s.symbols[out] = static_cast<char>(shift ? b >> 1 : b & 0x7F);
      s.residual[out] = static_cast<uint8_t>(shift ? b & 1 : b >> 7);
    }
  }
  return s;
}

Bytes deserialize(const PcmFormat& f, const SerialOptions& o, std::string_view symbols,
                  std::span<const uint8_t> residual) {
  const size_t fb = static_cast<size_t>(f.frame_bytes());
  if (symbols.size() != residual.size()) fail_format("symbol and residual counts differ");
  if (symbols.size() % fb) fail_format("decoded size is not a whole number of frames");
  const int bps = f.bytes_per_sample();
  auto order = sample_order(o, symbols.size() / fb, f.channels);
  Bytes chunk(symbols.size());
  size_t in = 0;
  for (size_t sample : order) {
    uint8_t* p = chunk.data() + sample * static_cast<size_t>(bps);
    for (int k = 0; k < bps; ++k, ++in) {
      uint8_t sym = static_cast<uint8_t>(symbols[in]);
      uint8_t bit = residual[in] & 1;
      if (sym > 0x7F) fail_format("symbol outside 7-bit range");
      uint8_t b =
          o.mapping == Mapping::Shift ? static_cast<uint8_t>(sym << 1 | bit) : static_cast<uint8_t>(sym | bit << 7);
      int fi = file_byte_index(f, o, k);
      p[fi] = static_cast<uint8_t>(b ^ sign_flip(f, o, fi));
    }
  }
  return chunk;
}

std::vector<ChunkRange> split_chunks(size_t total_bytes, int frame_bytes, size_t chunk_bytes) {
  size_t fb = static_cast<size_t>(frame_bytes);
  if (chunk_bytes == 0 || chunk_bytes % fb)
    fail(fmt::format("chunk size {} is not a multiple of the frame size {} (try {})", chunk_bytes, fb,
                     std::max(fb, chunk_bytes / fb * fb)));
  std::vector<ChunkRange> out;
  for (size_t off = 0; off < total_bytes; off += chunk_bytes)
    out.push_back({off, std::min(chunk_bytes, total_bytes - off)});
  return out;
}

}  // namespace lmac
