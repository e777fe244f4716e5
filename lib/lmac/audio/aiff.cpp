// FORM/AIFF and AIFC (NONE, twos, sowt, fl32): big-endian chunks; everything but the
// sample payload is kept verbatim.
#include <fmt/format.h>

#include <cmath>
#include <cstring>

#include "lmac/audio/audio_file.hpp"

namespace lmac {
namespace {

// 80-bit IEEE extended (the AIFF sample rate) to an integer rate.
uint32_t extended_to_rate(const uint8_t* p) {
  int exponent = static_cast<int>(((p[0] & 0x7F) << 8) | p[1]) - 16383;
  uint64_t mantissa = load_be(p + 2, 8);
  if (mantissa == 0 || exponent < 0 || exponent > 31 || (p[0] & 0x80)) return 0;
  return static_cast<uint32_t>(mantissa >> (63 - exponent));
}

struct Comm {
  PcmFormat format;
  bool seen = false;
};

Comm parse_comm(ByteSpan body, bool aifc) {
  if (body.size() < 18) fail_format("AIFF COMM chunk is too short");
  Comm c;
  c.seen = true;
  PcmFormat& f = c.format;
  f.channels = static_cast<uint16_t>(load_be(body.data(), 2));
  uint16_t sample_size = static_cast<uint16_t>(load_be(body.data() + 6, 2));
  f.rate = extended_to_rate(body.data() + 8);
  f.bits = static_cast<uint16_t>((sample_size + 7) / 8 * 8);
  f.kind = SampleKind::Signed;
  f.big_endian = true;
  if (aifc) {
    if (body.size() < 22) fail_format("AIFC COMM chunk is too short");
    char type[5] = {};
    std::memcpy(type, body.data() + 18, 4);
    std::string t(type);
    if (t == "sowt")
      f.big_endian = false;
    else if (t == "fl32" || t == "FL32")
      f.kind = SampleKind::Float;
    else if (t != "NONE" && t != "twos")
      fail_format("unsupported AIFC compression '" + t + "'");
  }
  if (f.channels == 0) fail_format("AIFF has zero channels");
  try {
    f.validate();
  } catch (const Error& e) {
    fail_format(std::string("AIFF: ") + e.what());
  }
  return c;
}

}  // namespace

AudioFile parse_aiff(ByteSpan file) {
  if (file.size() < 12) fail_format("truncated AIFF header");
  bool aifc = std::memcmp(file.data() + 8, "AIFC", 4) == 0;
  AudioFile a;
  a.container = Container::Aiff;
  Comm comm;
  size_t pos = 12;
  while (pos < file.size()) {
    if (file.size() - pos < 8) fail_format("truncated AIFF chunk header");
    const uint8_t* id = file.data() + pos;
    uint64_t size = load_be(file.data() + pos + 4, 4);
    size_t body = pos + 8;
    if (size > file.size() - body) fail_format("AIFF chunk runs past the end of the file (truncated?)");
    if (std::memcmp(id, "COMM", 4) == 0) comm = parse_comm(file.subspan(body, static_cast<size_t>(size)), aifc);
    if (std::memcmp(id, "SSND", 4) == 0) {
      if (!comm.seen) fail_format("AIFF SSND chunk before COMM chunk");
      if (size < 8) fail_format("AIFF SSND chunk is too short");
      uint64_t offset = load_be(file.data() + body, 4);
      if (offset > size - 8) fail_format("AIFF SSND offset past the chunk");
      a.format = comm.format;
      size_t start = body + 8 + static_cast<size_t>(offset);
      size_t payload = static_cast<size_t>(size - 8 - offset);
      size_t fb = static_cast<size_t>(a.format.frame_bytes());
      size_t whole = payload / fb * fb;
      a.header.assign(file.begin(), file.begin() + static_cast<ptrdiff_t>(start));
      a.data.assign(file.begin() + static_cast<ptrdiff_t>(start), file.begin() + static_cast<ptrdiff_t>(start + whole));
      a.trailer.assign(file.begin() + static_cast<ptrdiff_t>(start + whole), file.end());
      return a;
    }
    pos = body + static_cast<size_t>(size + (size & 1));
  }
  fail_format(comm.seen ? "AIFF has no SSND chunk" : "AIFF has no COMM chunk");
}

}  // namespace lmac
