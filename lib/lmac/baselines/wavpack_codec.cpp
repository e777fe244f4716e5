// WavPack very high + extra mode 6 (as `wavpack -hhx6`) through libwavpack, in memory.
#include <wavpack/wavpack.h>

#include <algorithm>
#include <cstring>

#include "lmac/audio/pcm_samples.hpp"
#include "lmac/baselines/compressor.hpp"
#include "lmac/common/error.hpp"

namespace lmac {
namespace {

struct Reader {
  ByteSpan in;
  int64_t pos = 0;
  int pushed = -1;
};

int32_t rd_read(void* id, void* data, int32_t n) {
  auto* r = static_cast<Reader*>(id);
  auto* out = static_cast<uint8_t*>(data);
  int32_t got = 0;
  if (r->pushed >= 0 && n > 0) {
    out[got++] = static_cast<uint8_t>(r->pushed);
    r->pushed = -1;
  }
  int64_t left = static_cast<int64_t>(r->in.size()) - r->pos;
  int32_t take = static_cast<int32_t>(std::min<int64_t>(n - got, left));
  if (take > 0) std::memcpy(out + got, r->in.data() + r->pos, static_cast<size_t>(take));
  r->pos += take;
  return got + std::max(take, 0);
}
int32_t rd_write(void*, void*, int32_t) { return 0; }
int64_t rd_pos(void* id) { return static_cast<Reader*>(id)->pos; }
int rd_set_abs(void* id, int64_t p) {
  auto* r = static_cast<Reader*>(id);
  r->pos = std::clamp<int64_t>(p, 0, static_cast<int64_t>(r->in.size()));
  r->pushed = -1;
  return 0;
}
int rd_set_rel(void* id, int64_t d, int mode) {
  auto* r = static_cast<Reader*>(id);
  int64_t base = mode == SEEK_SET ? 0 : mode == SEEK_CUR ? r->pos : static_cast<int64_t>(r->in.size());
  return rd_set_abs(id, base + d);
}
int rd_push(void* id, int c) {
  auto* r = static_cast<Reader*>(id);
  if (r->pos > 0)
    --r->pos;
  else
    r->pushed = c;
  return c;
}
int64_t rd_len(void* id) { return static_cast<int64_t>(static_cast<Reader*>(id)->in.size()); }
int rd_can_seek(void*) { return 1; }
int rd_trunc(void*) { return 0; }
int rd_close(void*) { return 0; }

int on_block(void* id, void* data, int32_t n) {
  auto* out = static_cast<Bytes*>(id);
  out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + n);
  return 1;
}

class WavPack final : public Compressor {
 public:
  std::string name() const override { return "wavpack"; }
  std::string settings() const override { return "very high, extra mode 6 (-hhx6)"; }
  bool supports(const PcmFormat& f) const override { return f.rate > 0; }

  Bytes compress(ByteSpan pcm, const PcmFormat& f) const override {
    std::vector<int32_t> s = pcm_to_samples(pcm, f);
    const int64_t frames = static_cast<int64_t>(s.size() / f.channels);
    Bytes out;
    if (frames == 0) return out;  // libwavpack writes no block for no samples
    WavpackContext* w = WavpackOpenFileOutput(on_block, &out, nullptr);
    WavpackConfig c{};
    c.bits_per_sample = f.bits;
    c.bytes_per_sample = f.bytes_per_sample();
    c.num_channels = f.channels;
    c.sample_rate = static_cast<int32_t>(f.rate);
    c.flags = CONFIG_HIGH_FLAG | CONFIG_VERY_HIGH_FLAG | CONFIG_EXTRA_MODE;
    c.xmode = 6;
    if (f.kind == SampleKind::Float) c.float_norm_exp = 127;
    bool ok = WavpackSetConfiguration64(w, &c, frames, nullptr) && WavpackPackInit(w);
    ok = ok && (frames == 0 || WavpackPackSamples(w, s.data(), static_cast<uint32_t>(frames)));
    ok = ok && WavpackFlushSamples(w);
    WavpackCloseFile(w);
    if (!ok) fail("WavPack encoding failed");
    return out;
  }

  Bytes decompress(ByteSpan packed, const PcmFormat& f, size_t n) const override {
    if (n == 0) return {};
    Reader r{packed};
    WavpackStreamReader64 io{rd_read, rd_write, rd_pos,      rd_set_abs, rd_set_rel,
                             rd_push, rd_len,   rd_can_seek, rd_trunc,   rd_close};
    char err[80] = {};
    WavpackContext* w = WavpackOpenFileInputEx64(&io, &r, nullptr, err, 0, 0);
    if (w == nullptr) fail_format(std::string("WavPack: ") + err);
    std::vector<int32_t> s(n / static_cast<size_t>(f.bytes_per_sample()));
    uint32_t got = WavpackUnpackSamples(w, s.data(), static_cast<uint32_t>(s.size() / f.channels));
    WavpackCloseFile(w);
    if (static_cast<size_t>(got) * f.channels != s.size())
      fail_format("WavPack stream does not decode to the original size");
    if (f.kind == SampleKind::Float)
      return samples_to_pcm(s, PcmFormat{32, f.channels, f.rate, SampleKind::Signed, f.big_endian});
    return samples_to_pcm(s, f);
  }
};

}  // namespace

std::unique_ptr<Compressor> make_wavpack_compressor() { return std::make_unique<WavPack>(); }

}  // namespace lmac
