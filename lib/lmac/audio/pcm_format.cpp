#include "lmac/audio/pcm_format.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>

#include "lmac/common/error.hpp"

namespace lmac {

std::string PcmFormat::describe() const {
  const char* k = kind == SampleKind::Float ? "f" : kind == SampleKind::Signed ? "s" : "u";
  std::string endian = bits == 8 ? "" : (big_endian ? "be" : "le");
  return fmt::format("{}{}{} {}ch {}Hz", k, bits, endian, channels, rate);
}

void PcmFormat::validate() const {
  if (bits != 8 && bits != 16 && bits != 24 && bits != 32)
    fail(fmt::format("unsupported bit depth {} (8, 16, 24 or 32)", bits));
  if (channels == 0) fail("zero channels");
  if (kind == SampleKind::Float && bits != 32) fail("only 32-bit float samples are supported");
}

namespace {
// A field of at most `most`: larger values are refused, not wrapped into the field's type.
uint32_t parse_uint(const std::string& s, const std::string& spec, uint32_t most) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty())
    fail("bad --format '" + spec + "': '" + s + "' is not a number");
  if (v > most) fail(fmt::format("bad --format '{}': {} is more than {}", spec, s, most));
  return v;
}
}  // namespace

PcmFormat parse_raw_format(const std::string& spec) {
  PcmFormat f;
  std::string head = spec.substr(0, spec.find(':'));
  std::string rest = spec.find(':') == std::string::npos ? "" : spec.substr(spec.find(':') + 1);
  if (head.empty()) fail("bad --format '" + spec + "'");
  switch (head[0]) {
    case 's':
      f.kind = SampleKind::Signed;
      break;
    case 'u':
      f.kind = SampleKind::Unsigned;
      break;
    case 'f':
      f.kind = SampleKind::Float;
      break;
    default:
      fail("bad --format '" + spec + "': must start with s, u or f");
  }
  size_t digits_end = 1;
  while (digits_end < head.size() && std::isdigit(static_cast<unsigned char>(head[digits_end]))) ++digits_end;
  f.bits = static_cast<uint16_t>(parse_uint(head.substr(1, digits_end - 1), spec, UINT16_MAX));
  std::string endian = head.substr(digits_end);
  if (endian == "be")
    f.big_endian = true;
  else if (endian == "le" || (endian.empty() && f.bits == 8))
    f.big_endian = false;
  else
    fail("bad --format '" + spec + "': byte order must be le or be");
  if (!rest.empty()) {
    std::string ch = rest.substr(0, rest.find(':'));
    f.channels = static_cast<uint16_t>(parse_uint(ch, spec, UINT16_MAX));
    if (rest.find(':') != std::string::npos) {
      f.rate = parse_uint(rest.substr(rest.find(':') + 1), spec, UINT32_MAX);
      if (f.rate == 0) fail("bad --format '" + spec + "': zero sample rate");
    }
  }
  try {
    f.validate();
  } catch (const Error& e) {
    fail("bad --format '" + spec + "': " + e.what());
  }
  return f;
}

}  // namespace lmac
