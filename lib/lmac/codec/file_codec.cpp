#include "lmac/codec/file_codec.hpp"

#include <fmt/format.h>

#include "lmac/common/hash.hpp"

#include <algorithm>

namespace lmac {

namespace {

// What a language model's context holds of a chunk: kDefaultChunkBytes at most, in whole
// frames (at least one).
uint64_t context_chunk_bytes(const CodecModel& model, uint64_t frame_bytes) {
  // One token per byte at most, plus one for a SentencePiece space prefix.
  const uint64_t fits = model.max_tokens() == SIZE_MAX ? kDefaultChunkBytes : model.max_tokens() - 1;
  const uint64_t bytes = std::min<uint64_t>(kDefaultChunkBytes, fits);
  return std::max(frame_bytes, bytes / frame_bytes * frame_bytes);
}

// A mix whose language model a context bounds: it reads long chunks in segments.
bool segments(const CodecModel& model) {
  return model.audio_mixing() == AudioMixing::WithLanguageModel && model.max_tokens() != SIZE_MAX;
}

}  // namespace

uint32_t default_chunk_bytes(const CodecModel& model, const PcmFormat& format) {
  const uint64_t fb = static_cast<uint64_t>(format.frame_bytes());
  const uint64_t frames = model.preferred_chunk_frames();
  if (frames == 0) return static_cast<uint32_t>(context_chunk_bytes(model, fb));
  const uint64_t preferred = std::min<uint64_t>(frames, UINT32_MAX / fb) * fb;
  if (!segments(model)) return static_cast<uint32_t>(preferred);
  // About the audio model's chunk, in whole segments of the language model's context.
  const uint64_t segment = context_chunk_bytes(model, fb);
  return static_cast<uint32_t>(std::clamp<uint64_t>((preferred + segment / 2) / segment, 1, UINT32_MAX / segment) *
                               segment);
}

uint32_t lm_segment_bytes(const CodecModel& model, const PcmFormat& format, uint32_t chunk_bytes) {
  if (!segments(model)) return 0;
  const uint64_t segment = context_chunk_bytes(model, static_cast<uint64_t>(format.frame_bytes()));
  return chunk_bytes > segment ? static_cast<uint32_t>(segment) : 0;
}

namespace {

// The header of `data_bytes` of samples in chunks of `chunk_bytes` coded by `model`, but
// for what the source file gives (container, its header and trailer bytes).
StreamHeader coded_header(const CodecModel& model, const PcmFormat& format, const SerialOptions& serial,
                          uint32_t chunk_bytes, uint64_t data_bytes) {
  StreamHeader h;
  h.format = format;
  h.serial = serial;
  h.chunk_bytes = chunk_bytes;
  h.lm_segment_bytes = lm_segment_bytes(model, format, chunk_bytes);
  h.model_name = model.name();
  h.model_fingerprint = model.fingerprint();
  h.data_bytes = data_bytes;
  h.chunk_count = (data_bytes + chunk_bytes - 1) / chunk_bytes;
  return h;
}

}  // namespace

const CodecModel& stream_model(const CodecModel& model, const CodecModel* alone, std::span<const ChunkRecord> chunks) {
  const auto mixed = [](const ChunkRecord& c) { return !c.stored && c.mode == TokenMode::Mixed; };
  const bool named_alone = alone != nullptr && model.audio_mixing() == AudioMixing::WithLanguageModel &&
                           alone->audio_mixing() == AudioMixing::AudioOnly &&
                           std::none_of(chunks.begin(), chunks.end(), mixed);
  return named_alone ? *alone : model;
}

uint64_t one_chunk_stream_overhead(const CodecModel& model, const PcmFormat& format, const SerialOptions& serial,
                                   uint64_t data_bytes) {
  const uint64_t fb = static_cast<uint64_t>(format.frame_bytes());
  LmacStream s;  // raw samples (no header bytes), no records: the header and the footer
  s.header =
      coded_header(model, format, serial,
                   static_cast<uint32_t>(std::clamp<uint64_t>(data_bytes, fb, UINT32_MAX / fb * fb)), data_bytes);
  return write_lmac(s).size();
}

Bytes compress_audio(const CodecModel& model, ByteSpan file, const CompressOptions& o, StreamHeader* header) {
  AudioFile audio = parse_audio(file, o.raw_format);
  const uint32_t chunk_bytes = o.chunk_bytes != 0 ? o.chunk_bytes : default_chunk_bytes(model, audio.format);
  LmacStream s;
  StreamHeader& h = s.header;
  h = coded_header(model, audio.format, o.serial, chunk_bytes, audio.data.size());
  h.container = audio.container;
  h.tokenization = o.codec.tokenization;
  h.original_header = std::move(audio.header);
  h.original_trailer = std::move(audio.trailer);
  auto ranges = split_chunks(audio.data.size(), audio.format.frame_bytes(), h.chunk_bytes);
  s.chunks = encode_chunks(model, {&h.format, &h.serial, h.lm_segment_bytes}, audio.data, ranges, o.codec);
  s.data_checksum = hash64(audio.data);
  if (const CodecModel& named = stream_model(model, o.alone, s.chunks); &named != &model) {
    h.model_name = named.name();
    h.model_fingerprint = named.fingerprint();
    h.lm_segment_bytes = 0;
  }
  if (header != nullptr) *header = h;
  return write_lmac(s);
}

void check_model(const CodecModel& model, const StreamHeader& h) {
  if (!checksum_matches(h.model_fingerprint, model.fingerprint()))
    fail(
        fmt::format("wrong model: the stream was made with '{}' (fingerprint {:016x}), not '{}' ({:016x}); pass "
                    "that model with --model",
                    h.model_name, h.model_fingerprint, model.name(), model.fingerprint()));
}

// Digital silence of the format: zero, or mid-scale for unsigned samples (0x80 then zeros,
// most significant byte first in the sample's byte order).
void fill_silence(const PcmFormat& f, std::span<uint8_t> out) {
  std::fill(out.begin(), out.end(), uint8_t{0});
  if (f.kind != SampleKind::Unsigned) return;
  const size_t n = static_cast<size_t>(f.bytes_per_sample());
  for (size_t at = 0; at + n <= out.size(); at += n) out[at + (f.big_endian ? 0 : n - 1)] = 0x80;
}

DecompressResult decompress_audio(const CodecModel& model, const ParsedStream& parsed, const CodecOptions& o,
                                  bool keep_going) {
  const LmacStream& s = parsed.stream;
  const StreamHeader& h = s.header;
  check_model(model, h);
  auto ranges = split_chunks(h.data_bytes, h.format.frame_bytes(), h.chunk_bytes);
  DecompressResult result;
  std::vector<bool> wanted(ranges.size(), true);
  std::vector<std::string> why(ranges.size());
  for (size_t i : parsed.damaged) {
    wanted[i] = false;
    why[i] = "record checksum mismatch (corrupted chunk)";
  }
  DecodedChunks d = decode_chunks(model, {&h.format, &h.serial, h.lm_segment_bytes}, s.chunks, ranges, wanted, o);
  AudioFile audio;
  audio.container = h.container;
  audio.format = h.format;
  audio.header = h.original_header;
  audio.trailer = h.original_trailer;
  audio.data.resize(h.data_bytes);
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (why[i].empty()) why[i] = d.errors[i];
    if (!why[i].empty()) {
      result.bad_chunks.push_back(i);
      result.errors.push_back(fmt::format("chunk {}: {}", i, why[i]));
      fill_silence(h.format, std::span<uint8_t>(audio.data).subspan(ranges[i].offset, ranges[i].size));
      continue;
    }
    std::copy(d.chunks[i]->begin(), d.chunks[i]->end(), audio.data.begin() + static_cast<ptrdiff_t>(ranges[i].offset));
  }
  if (!result.bad_chunks.empty() && !keep_going)
    fail_format(fmt::format("{} of {} chunks damaged, first {}", result.bad_chunks.size(), ranges.size(),
                            result.errors.front()));
  result.end_damage = parsed.end_damage;
  // With a damaged end the recorded data checksum cannot be trusted; each chunk was
  // still checked against its own.
  if (result.bad_chunks.empty() && result.end_damage.empty() && !checksum_matches(s.data_checksum, hash64(audio.data)))
    fail_format("stream checksum mismatch after decoding");
  result.file = serialize_audio(audio);
  return result;
}

}  // namespace lmac
