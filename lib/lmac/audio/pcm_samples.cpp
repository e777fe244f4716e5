#include "lmac/audio/pcm_samples.hpp"

namespace lmac {

std::vector<int32_t> pcm_to_samples(ByteSpan pcm, const PcmFormat& f) {
  const int bps = f.bytes_per_sample();
  std::vector<int32_t> out(pcm.size() / static_cast<size_t>(bps));
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t* p = pcm.data() + i * static_cast<size_t>(bps);
    uint32_t v = static_cast<uint32_t>(load_endian(p, bps, f.big_endian));
    if (f.kind == SampleKind::Unsigned) {
      out[i] = static_cast<int32_t>(v) - (1 << (f.bits - 1));
    } else {
      const int shift = 32 - f.bits;
      out[i] = static_cast<int32_t>(v << shift) >> shift;
    }
  }
  return out;
}

Bytes samples_to_pcm(const std::vector<int32_t>& s, const PcmFormat& f) {
  const int bps = f.bytes_per_sample();
  Bytes out(s.size() * static_cast<size_t>(bps));
  for (size_t i = 0; i < s.size(); ++i) {
    uint32_t v = static_cast<uint32_t>(s[i]);
    if (f.kind == SampleKind::Unsigned) v = static_cast<uint32_t>(s[i] + (1 << (f.bits - 1)));
    uint8_t* p = out.data() + i * static_cast<size_t>(bps);
    store_endian(p, v, bps, f.big_endian);
  }
  return out;
}

}  // namespace lmac
