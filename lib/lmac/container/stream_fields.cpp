#include "lmac/container/detail/stream_fields.hpp"

namespace lmac::detail {

Bytes canonical_wav_header(const StreamHeader& h) {
  const uint64_t pad = h.data_bytes & 1;
  if (h.container != Container::Wav || h.original_trailer.size() < pad ||
      h.data_bytes + h.original_trailer.size() > 0xFFFFFFFFu - 1024)
    return {};
  return make_wav_header(h.format, h.data_bytes, h.original_trailer.size() - pad);
}

void finish_header(StreamHeader& h, uint16_t flags) {
  try {
    h.format.validate();
  } catch (const Error& e) {
    fail_format(std::string("invalid PCM format: ") + e.what());
  }
  if (h.serial.block_n == 0) fail_format("invalid block size 0");
  if (h.chunk_bytes == 0 || h.chunk_bytes % static_cast<uint32_t>(h.format.frame_bytes()))
    fail_format("chunk size is not a multiple of the frame size");
  if (h.data_bytes % static_cast<uint64_t>(h.format.frame_bytes()))
    fail_format("data size is not a whole number of frames");
  if ((flags & kFlagLmSegments) && (h.lm_segment_bytes == 0 || h.lm_segment_bytes >= h.chunk_bytes))
    fail_format(
        fmt::format("invalid language-model segment of {} bytes in chunks of {}", h.lm_segment_bytes, h.chunk_bytes));
  if (flags & kFlagCanonicalWavHeader) {
    if (!h.original_header.empty()) fail_format("a stored original header where the canonical WAV header is named");
    h.original_header = canonical_wav_header(h);
    if (h.original_header.empty()) fail_format("a canonical WAV header named for a source that cannot have one");
    h.canonical_wav_header = true;
  }
}

bool accept_record(ChunkRecord& c, uint8_t mode, uint8_t residual_mode, ByteSpan tokens, ByteSpan residual) {
  const bool stored = mode == kStoredMode;
  const bool audio_coded = codes_bits(static_cast<TokenMode>(mode));
  if (mode > static_cast<uint8_t>(TokenMode::Mixed) || residual_mode > 1 ||
      (stored && (c.token_count != 0 || !residual.empty())) ||
      (audio_coded && (!residual.empty() || residual_mode != 0)))
    return false;
  c.stored = stored;
  c.mode = stored ? TokenMode::Char : static_cast<TokenMode>(mode);
  c.residual_mode = static_cast<ResidualMode>(residual_mode);
  c.tokens.assign(tokens.begin(), tokens.end());
  c.residual.assign(residual.begin(), residual.end());
  return true;
}

void note_stream_end(const ByteReader& r, bool hash_ok, ParsedStream& p) {
  if (r.remaining() != 0)
    p.end_damage = "trailing bytes after the end of the stream";
  else if (!hash_ok && p.damaged.empty())
    p.end_damage = "stream checksum mismatch (corrupted file)";
}

}  // namespace lmac::detail
