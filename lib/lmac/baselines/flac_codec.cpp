// FLAC level 8 through libFLAC, told the chunk's real sample format, in memory.
#include <FLAC/stream_decoder.h>
#include <FLAC/stream_encoder.h>

#include <algorithm>
#include <cstring>

#include "lmac/audio/pcm_samples.hpp"
#include "lmac/baselines/compressor.hpp"
#include "lmac/common/error.hpp"

namespace lmac {
namespace {

struct DecodeState {
  ByteSpan in;
  size_t pos = 0;
  std::vector<int32_t> samples;
  bool error = false;
};

FLAC__StreamEncoderWriteStatus on_write(const FLAC__StreamEncoder*, const FLAC__byte buffer[], size_t bytes, uint32_t,
                                        uint32_t, void* out) {
  auto* o = static_cast<Bytes*>(out);
  o->insert(o->end(), buffer, buffer + bytes);
  return FLAC__STREAM_ENCODER_WRITE_STATUS_OK;
}

FLAC__StreamDecoderReadStatus on_read(const FLAC__StreamDecoder*, FLAC__byte buffer[], size_t* bytes, void* d) {
  auto* s = static_cast<DecodeState*>(d);
  size_t n = std::min(*bytes, s->in.size() - s->pos);
  std::memcpy(buffer, s->in.data() + s->pos, n);
  s->pos += n;
  *bytes = n;
  return n == 0 ? FLAC__STREAM_DECODER_READ_STATUS_END_OF_STREAM : FLAC__STREAM_DECODER_READ_STATUS_CONTINUE;
}

FLAC__StreamDecoderWriteStatus on_frame(const FLAC__StreamDecoder*, const FLAC__Frame* frame,
                                        const FLAC__int32* const buffer[], void* d) {
  auto* s = static_cast<DecodeState*>(d);
  for (uint32_t i = 0; i < frame->header.blocksize; ++i)
    for (uint32_t c = 0; c < frame->header.channels; ++c) s->samples.push_back(buffer[c][i]);
  return FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE;
}

void on_error(const FLAC__StreamDecoder*, FLAC__StreamDecoderErrorStatus, void* d) {
  static_cast<DecodeState*>(d)->error = true;
}

class Flac final : public Compressor {
 public:
  std::string name() const override { return "flac"; }
  std::string settings() const override { return "libFLAC level 8"; }
  bool supports(const PcmFormat& f) const override {
    return f.kind != SampleKind::Float && f.channels <= 8 && f.rate > 0 && f.rate <= 1048575;
  }

  Bytes compress(ByteSpan pcm, const PcmFormat& f) const override {
    if (!supports(f)) fail("FLAC cannot code " + f.describe());
    std::vector<int32_t> s = pcm_to_samples(pcm, f);
    const size_t frames = s.size() / f.channels;
    FLAC__StreamEncoder* e = FLAC__stream_encoder_new();
    FLAC__stream_encoder_set_channels(e, f.channels);
    FLAC__stream_encoder_set_bits_per_sample(e, f.bits);
    FLAC__stream_encoder_set_sample_rate(e, f.rate);
    FLAC__stream_encoder_set_compression_level(e, 8);
    FLAC__stream_encoder_set_total_samples_estimate(e, frames);
    FLAC__stream_encoder_set_verify(e, false);
    Bytes out;
    bool ok = FLAC__stream_encoder_init_stream(e, on_write, nullptr, nullptr, nullptr, &out) ==
              FLAC__STREAM_ENCODER_INIT_STATUS_OK;
    ok = ok && (frames == 0 || FLAC__stream_encoder_process_interleaved(e, s.data(), static_cast<uint32_t>(frames)));
    ok = FLAC__stream_encoder_finish(e) && ok;
    FLAC__stream_encoder_delete(e);
    if (!ok) fail("FLAC encoding failed");
    return out;
  }

  Bytes decompress(ByteSpan packed, const PcmFormat& f, size_t n) const override {
    DecodeState st;
    st.in = packed;
    FLAC__StreamDecoder* d = FLAC__stream_decoder_new();
    bool ok = FLAC__stream_decoder_init_stream(d, on_read, nullptr, nullptr, nullptr, nullptr, on_frame, nullptr,
                                               on_error, &st) == FLAC__STREAM_DECODER_INIT_STATUS_OK;
    ok = ok && FLAC__stream_decoder_process_until_end_of_stream(d);
    FLAC__stream_decoder_finish(d);
    FLAC__stream_decoder_delete(d);
    Bytes out = samples_to_pcm(st.samples, f);
    if (!ok || st.error || out.size() != n) fail_format("FLAC stream does not decode to the original size");
    return out;
  }
};

}  // namespace

std::unique_ptr<Compressor> make_flac_compressor() { return std::make_unique<Flac>(); }

}  // namespace lmac
