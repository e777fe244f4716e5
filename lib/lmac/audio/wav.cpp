// RIFF/WAVE and RF64/BW64 (64-bit sizes in a ds64 chunk): PCM 8-bit unsigned,
// 16/24/32-bit signed, 32-bit float, and WAVE_FORMAT_EXTENSIBLE. Everything but the
// sample payload is kept verbatim, so every variant comes back byte for byte.
#include <fmt/format.h>

#include <cstring>
#include <optional>

#include "lmac/audio/audio_file.hpp"

namespace lmac {
namespace {

constexpr uint16_t kFormatPcm = 1;
constexpr uint16_t kFormatFloat = 3;
constexpr uint16_t kFormatExtensible = 0xFFFE;

PcmFormat parse_fmt_chunk(ByteSpan body) {
  if (body.size() < 16) fail_format("fmt chunk is too short");
  uint16_t tag = static_cast<uint16_t>(load_le(body.data(), 2));
  PcmFormat f;
  f.channels = static_cast<uint16_t>(load_le(body.data() + 2, 2));
  f.rate = static_cast<uint32_t>(load_le(body.data() + 4, 4));
  uint16_t block_align = static_cast<uint16_t>(load_le(body.data() + 12, 2));
  uint16_t bits = static_cast<uint16_t>(load_le(body.data() + 14, 2));
  if (tag == kFormatExtensible) {
    if (body.size() < 40) fail_format("WAVE_FORMAT_EXTENSIBLE fmt chunk is too short");
    tag = static_cast<uint16_t>(load_le(body.data() + 24, 2));  // first bytes of the GUID
  }
  if (tag != kFormatPcm && tag != kFormatFloat)
    throw ForeignWavEncoding(fmt::format("WAV encoding {:#x} is not PCM or float", tag));
  if (f.channels == 0) fail_format("WAV has zero channels");
  if (block_align == 0 || block_align % f.channels != 0)
    fail_format(fmt::format("WAV block align {} does not fit {} channels", block_align, f.channels));
  // The container size decides the byte layout; `bits` may be smaller (e.g. 20 valid bits in 24).
  f.bits = static_cast<uint16_t>(block_align / f.channels * 8);
  if (bits > f.bits) fail_format("WAV bits per sample exceed the block align");
  if (f.bits > 32) throw ForeignWavEncoding(fmt::format("{}-bit WAV samples", f.bits));
  f.kind = tag == kFormatFloat ? SampleKind::Float : (f.bits == 8 ? SampleKind::Unsigned : SampleKind::Signed);
  f.big_endian = false;
  try {
    f.validate();
  } catch (const Error& e) {
    fail_format(std::string("WAV: ") + e.what());
  }
  return f;
}

// Sizes a writer that cannot seek back puts in the data chunk (sox: 0x7FFFF000,
// others 0xFFFFFFFF or 0): the samples run to the end of the file.
bool unknown_length(uint64_t size) { return size == 0xFFFFFFFFu || size == 0x7FFFF000u || size == 0; }

}  // namespace

AudioFile parse_wav(ByteSpan file) {
  if (file.size() < 12) fail_format("truncated WAV header");
  AudioFile a;
  a.container = Container::Wav;
  bool have_fmt = false;
  const bool rf64 = std::memcmp(file.data(), "RF64", 4) == 0 || std::memcmp(file.data(), "BW64", 4) == 0;
  std::optional<uint64_t> ds64_data;  // RF64: the data chunk's real size
  size_t pos = 12;
  while (pos < file.size()) {
    if (file.size() - pos < 8) fail_format("truncated WAV chunk header");
    const uint8_t* id = file.data() + pos;
    uint64_t size = load_le(file.data() + pos + 4, 4);
    size_t body = pos + 8;
    if (std::memcmp(id, "data", 4) == 0) {
      if (!have_fmt) fail_format("WAV data chunk before fmt chunk");
      if (rf64 && size == 0xFFFFFFFFu) {
        if (!ds64_data) fail_format("RF64 file without a ds64 chunk before its data");
        size = *ds64_data;
      }
      if (size > file.size() - body) {
        if (!unknown_length(size)) fail_format("WAV data chunk runs past the end of the file (truncated?)");
        size = file.size() - body;  // streamed: the samples are what the file holds
      }
      size_t fb = static_cast<size_t>(a.format.frame_bytes());
      size_t whole = static_cast<size_t>(size) / fb * fb;
      a.header.assign(file.begin(), file.begin() + static_cast<ptrdiff_t>(body));
      a.data.assign(file.begin() + static_cast<ptrdiff_t>(body), file.begin() + static_cast<ptrdiff_t>(body + whole));
      a.trailer.assign(file.begin() + static_cast<ptrdiff_t>(body + whole), file.end());
      return a;
    }
    uint64_t padded = size + (size & 1);
    if (padded > file.size() - body) fail_format("WAV chunk runs past the end of the file (truncated?)");
    if (rf64 && std::memcmp(id, "ds64", 4) == 0) {
      if (size < 24) fail_format("RF64 ds64 chunk is too short");
      ds64_data = load_le(file.data() + body + 8, 8);
    }
    if (std::memcmp(id, "fmt ", 4) == 0) {
      a.format = parse_fmt_chunk(file.subspan(body, static_cast<size_t>(size)));
      have_fmt = true;
    }
    pos = body + static_cast<size_t>(padded);
  }
  fail_format(have_fmt ? "WAV has no data chunk" : "WAV has no fmt chunk");
}

// Its bytes are part of the .lmac format: streams of WAV files whose header is exactly
// this one do not store it (docs/FORMAT.md, flag bit 1). Never change them.
Bytes make_wav_header(const PcmFormat& f, uint64_t data_bytes, uint64_t after) {
  bool extensible = f.channels > 2 || f.bits > 16;
  uint32_t fmt_size = extensible ? 40 : 16;
  Bytes h;
  ByteWriter w(h);
  uint64_t riff = 4 + (8 + fmt_size) + (8 + data_bytes + (data_bytes & 1)) + after;
  if (riff > 0xFFFFFFFFu) fail("audio too large for a WAV file");
  w.bytes(ByteSpan(reinterpret_cast<const uint8_t*>("RIFF"), 4));
  w.u32(riff);
  w.bytes(ByteSpan(reinterpret_cast<const uint8_t*>("WAVEfmt "), 8));
  w.u32(fmt_size);
  uint16_t tag = f.kind == SampleKind::Float ? kFormatFloat : kFormatPcm;
  w.u16(extensible ? kFormatExtensible : tag);
  w.u16(f.channels);
  w.u32(f.rate);
  w.u32(static_cast<uint64_t>(f.rate) * f.frame_bytes());
  w.u16(f.frame_bytes());
  w.u16(f.bits);
  if (extensible) {
    static const uint8_t kGuidTail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                          0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
    w.u16(22);
    w.u16(f.bits);
    w.u32(0);  // channel mask: unspecified
    w.u16(tag);
    w.bytes(ByteSpan(kGuidTail, 14));
  }
  w.bytes(ByteSpan(reinterpret_cast<const uint8_t*>("data"), 4));
  w.u32(data_bytes);
  return h;
}

}  // namespace lmac
