#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "lmac/codec/detail/audio_chunks.hpp"
#include "lmac/common/error.hpp"
#include "lmac/common/hash.hpp"
#include "lmac/common/parallel.hpp"
#include "lmac/mixing/audio_chunk_coder.hpp"

namespace lmac {
namespace {

mixing::ChunkShape shape_of(const ChunkSpec& spec, size_t chunk_bytes) {
  const PcmFormat& f = *spec.format;
  mixing::ChunkShape s;
  s.bits = f.bits;
  s.channels = f.channels;
  const size_t frames = chunk_bytes / static_cast<size_t>(f.frame_bytes());
  for (size_t index : sample_order(*spec.serial, frames, f.channels))
    s.channel.push_back(static_cast<uint8_t>(index % f.channels));
  return s;
}

// The chunk's serialized bytes: symbol << 1 | dropped bit, the order the audio model reads.
std::vector<uint8_t> audio_bytes(const ChunkSpec& spec, ByteSpan chunk) {
  Serialized s = serialize(*spec.format, *spec.serial, chunk);
  std::vector<uint8_t> b(s.symbols.size());
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(s.symbols[i] << 1 | (s.residual[i] & 1));
  return b;
}

Bytes chunk_from_audio_bytes(const ChunkSpec& spec, const std::vector<uint8_t>& bytes) {
  std::string symbols(bytes.size(), '\0');
  std::vector<uint8_t> bits(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) {
    symbols[i] = static_cast<char>(bytes[i] >> 1);
    bits[i] = bytes[i] & 1;
  }
  return deserialize(*spec.format, *spec.serial, symbols, bits);
}

void fill_record(ChunkRecord& r, TokenMode mode, Bytes coded, ByteSpan chunk, bool store_incompressible) {
  r.mode = mode;
  r.token_count = static_cast<uint32_t>(chunk.size());
  r.tokens = std::move(coded);
  r.residual_mode = ResidualMode::Packed;
  r.residual.clear();
  r.checksum = hash64(chunk);
  if (store_incompressible && r.tokens.size() >= chunk.size()) store_verbatim(r, chunk);
}

using Encoders = std::vector<std::unique_ptr<mixing::AudioChunkEncoder>>;
using Decoders = std::vector<std::unique_ptr<mixing::AudioChunkDecoder>>;

// The bytes of a segment: the spec's, or the whole chunk.
size_t segment_of(const ChunkSpec& spec) { return spec.lm_segment ? spec.lm_segment : SIZE_MAX; }

// The most bytes of a chunk the language model reads at once.
size_t lm_window(size_t chunk_bytes, const ChunkSpec& spec) { return std::min(chunk_bytes, segment_of(spec)); }

// Calls round(lengths, start) for each round of a group of chunks of `sizes`: segment
// `start` of every chunk, the language model's sequences for that round (length 0 where
// a chunk has ended). The language model starts each segment afresh; the audio model
// runs on through the chunk.
template <typename Round>
void segment_rounds(const std::vector<size_t>& sizes, const ChunkSpec& spec, Round&& round) {
  const size_t segment = segment_of(spec);
  const size_t longest = sizes.empty() ? 0 : *std::max_element(sizes.begin(), sizes.end());
  for (size_t start = 0; start < longest; start += segment) {
    std::vector<size_t> lengths;
    lengths.reserve(sizes.size());
    for (size_t n : sizes) lengths.push_back(n > start ? std::min(segment, n - start) : 0);
    round(lengths, start);
  }
}

mixing::StageSearch search_of(const CodecOptions& o) {
  return o.exhaustive ? mixing::StageSearch::Exhaustive : mixing::StageSearch::Default;
}

struct GroupCoding {
  std::optional<Bytes> mixed;  // a chunk mixed with the language model; none where mixing stopped paying
  Bytes alone;                 // the chunk by the audio model alone
};

// A group of chunks' serialized bytes (one per PCM byte) mixed with the language model,
// in segment rounds; within a round its tables come a slice at a time. Unless every
// chunk must be mixed (--model-only), a chunk leaves the language model's batch where
// its mixed coding stops paying (AudioChunkEncoder::pays).
std::vector<GroupCoding> encode_mixed_group(Predictor& pred, const ChunkSpec& spec,
                                            const std::vector<std::vector<uint8_t>>& bytes, const CodecOptions& o) {
  const bool probe = o.store_incompressible;
  Encoders enc;
  std::vector<size_t> sizes;
  enc.resize(bytes.size());
  // Each chunk's encoder chooses its parameters on its own; a group of one gets every
  // thread for its trials (inside a group that runs beside others, they run inline).
  parallel_tasks(o.threads, bytes.size(), [&](size_t g) {
    enc[g] = std::make_unique<mixing::AudioChunkEncoder>(shape_of(spec, bytes[g].size()), bytes[g], search_of(o),
                                                         o.mixed_min_saving_per_mille, o.threads);
  });
  sizes.reserve(bytes.size());
  for (const auto& b : bytes) sizes.push_back(b.size());
  segment_rounds(sizes, spec, [&](const std::vector<size_t>& lengths, size_t start) {
    feed_known_while(
        pred, lengths, [&](size_t g, size_t t) { return static_cast<int32_t>(bytes[g][start + t] >> 1); },
        [&](size_t g, size_t, const FreqTable& table) { enc[g]->encode_next(&table); },
        [&](size_t g, size_t) { return !probe || enc[g]->pays(); });
  });
  std::vector<GroupCoding> coded;
  coded.reserve(enc.size());
  for (auto& e : enc) {
    std::optional<Bytes> mixed;
    if (e->done()) mixed = e->finish();
    coded.push_back({std::move(mixed), e->alone()});
  }
  return coded;
}

// Whether a mixed coding of `mixed` bytes is kept against the audio model's `alone`.
bool keep_mixed(size_t mixed, size_t alone, const CodecOptions& o) {
  if (!o.store_incompressible) return true;  // the paper's figures: every chunk mixed
  return mixing::mixing_saves(mixed, alone, o.mixed_min_saving_per_mille);
}

// A chunk's serialized bytes coded by the audio model alone.
Bytes audio_alone(const ChunkSpec& spec, const std::vector<uint8_t>& bytes, const CodecOptions& o) {
  return mixing::encode_audio_alone(shape_of(spec, bytes.size()), bytes, search_of(o), o.threads);
}

// Decodes one group; tables from the language model when mixed, a byte at a time, in
// segment rounds as the encoder.
std::vector<std::vector<uint8_t>> decode_group(Predictor* pred, Decoders& dec, const std::vector<size_t>& sizes,
                                               const ChunkSpec& spec) {
  std::vector<std::vector<uint8_t>> out(dec.size());
  if (!pred) {
    for (size_t g = 0; g < dec.size(); ++g)
      while (out[g].size() < sizes[g]) out[g].push_back(dec[g]->decode_next(nullptr));
    return out;
  }
  segment_rounds(sizes, spec, [&](const std::vector<size_t>& lengths, size_t) {
    feed_decoded(*pred, lengths, [&](size_t g, const FreqTable& table) {
      out[g].push_back(dec[g]->decode_next(&table));
      return static_cast<int32_t>(out[g].back() >> 1);
    });
  });
  return out;
}

// Mixed chunks go through the language model in batches; audio-only ones one by one.
std::optional<TokenMode> predictor_mode(bool with_lm) {
  return with_lm ? std::optional(TokenMode::Char) : std::nullopt;
}

std::vector<size_t> all_of(size_t n) {
  std::vector<size_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

// Why a chunk coded bit by bit (of `size` bytes) cannot be decoded with this model, or "".
std::string record_problem(const CodecModel& model, const ChunkSpec& spec, const ChunkRecord& r, size_t size) {
  if (r.mode == TokenMode::Mixed && model.audio_mixing() != AudioMixing::WithLanguageModel)
    return "chunk was mixed with a language model; decode it with mix:MODEL";
  if (r.mode == TokenMode::Audio && model.audio_mixing() == AudioMixing::None)
    return "chunk was coded by the audio model; decode it with audio or mix:MODEL";
  if (r.token_count != size) return "audio-coded chunk records the wrong size";
  if (r.mode == TokenMode::Mixed && lm_window(r.token_count, spec) > model.max_tokens())
    return fmt::format("the language model would see {} bytes at once but its context holds {}",
                       lm_window(r.token_count, spec), model.max_tokens());
  return "";
}

}  // namespace

std::string audio_coding_obstacle(const ChunkSpec& spec) {
  const PcmFormat& f = *spec.format;
  const bool msb_first = f.bytes_per_sample() == 1 || spec.serial->byte_order == ByteOrder::MsbFirst || f.big_endian;
  if (spec.serial->mapping != Mapping::Shift || !msb_first)
    return "the audio model reads samples from their top bit: it needs --mapping shift and --byte-order msb";
  return "";
}

std::vector<ChunkRecord> encode_audio_chunks(const CodecModel& model, const ChunkSpec& spec, ByteSpan data,
                                             const std::vector<ChunkRange>& ranges, const CodecOptions& o) {
  if (const std::string why = audio_coding_obstacle(spec); !why.empty()) fail(why);
  const bool with_lm = model.audio_mixing() == AudioMixing::WithLanguageModel;
  for (const ChunkRange& r : ranges)
    if (with_lm && lm_window(r.size, spec) > model.max_tokens())
      fail(
          fmt::format("a chunk of {} bytes needs {} tokens but the model's context holds {}; use a chunk size of at "
                      "most {} bytes",
                      r.size, r.size, model.max_tokens(),
                      model.max_tokens() / spec.format->frame_bytes() * spec.format->frame_bytes()));
  std::vector<ChunkRecord> records(ranges.size());
  ChunkProgress progress{o.progress, ranges.size()};
  std::vector<size_t> sizes;
  sizes.reserve(ranges.size());
  for (const ChunkRange& r : ranges) sizes.push_back(r.size);
  run_batches(model, predictor_mode(with_lm), all_of(ranges.size()), sizes, with_lm ? o.batch : 1, o,
              [&](const std::vector<size_t>& idx, Predictor* pred) {
                std::vector<std::vector<uint8_t>> bytes;
                bytes.reserve(idx.size());
                for (size_t i : idx) bytes.push_back(audio_bytes(spec, data.subspan(ranges[i].offset, ranges[i].size)));
                std::vector<GroupCoding> mixed;
                if (pred) mixed = encode_mixed_group(*pred, spec, bytes, o);
                for (size_t g = 0; g < idx.size(); ++g) {
                  Bytes coded;
                  TokenMode chosen = TokenMode::Audio;
                  if (!pred) {
                    coded = audio_alone(spec, bytes[g], o);
                  } else if (GroupCoding& m = mixed[g]; m.mixed && keep_mixed(m.mixed->size(), m.alone.size(), o)) {
                    coded = std::move(*m.mixed), chosen = TokenMode::Mixed;
                  } else {
                    // The audio model alone where the language model did not help enough (or
                    // stopped paying): at most a percent larger, and decoding it needs no
                    // language model (the encoder coded it while choosing).
                    coded = std::move(m.alone);
                  }
                  fill_record(records[idx[g]], chosen, std::move(coded),
                              data.subspan(ranges[idx[g]].offset, ranges[idx[g]].size), o.store_incompressible);
                }
                progress.add(idx.size());
              });
  return records;
}

void decode_audio_chunks(const CodecModel& model, const ChunkSpec& spec, const std::vector<ChunkRecord>& records,
                         const std::vector<ChunkRange>& ranges, const std::vector<size_t>& which, const CodecOptions& o,
                         ChunkProgress& progress, DecodedChunks& d) {
  std::vector<size_t> todo;
  const std::string obstacle = audio_coding_obstacle(spec);
  for (size_t i : which) {
    d.errors[i] = obstacle.empty() ? record_problem(model, spec, records[i], ranges[i].size) : obstacle;
    if (d.errors[i].empty()) todo.push_back(i);
  }
  progress.add(which.size() - todo.size());
  auto decode = [&](const std::vector<size_t>& group, Predictor* pred) {
    Decoders dec;
    std::vector<size_t> sizes, live;
    for (size_t i : group) {
      try {
        dec.push_back(std::make_unique<mixing::AudioChunkDecoder>(shape_of(spec, ranges[i].size), records[i].tokens));
        sizes.push_back(ranges[i].size);
        live.push_back(i);
      } catch (const Error& e) {
        d.errors[i] = e.what();
      }
    }
    auto bytes = decode_group(pred, dec, sizes, spec);
    for (size_t g = 0; g < live.size(); ++g) {
      const size_t i = live[g];
      try {
        dec[g]->check_end();
        Bytes chunk = chunk_from_audio_bytes(spec, bytes[g]);
        if (!chunk_checksum_matches(records[i], chunk)) fail_format("checksum mismatch after decoding");
        d.chunks[i] = std::move(chunk);
      } catch (const Error& e) {
        d.errors[i] = e.what();
      }
    }
    progress.add(group.size());
  };
  // Audio-only chunks need no language model; mixed ones go through it in batches.
  for (TokenMode mode : {TokenMode::Audio, TokenMode::Mixed}) {
    std::vector<size_t> members, sizes;
    for (size_t i : todo)
      if (records[i].mode == mode) members.push_back(i), sizes.push_back(ranges[i].size);
    const bool with_lm = mode == TokenMode::Mixed;
    run_batches(model, predictor_mode(with_lm), members, sizes, with_lm ? o.batch : 1, o, decode);
  }
}

}  // namespace lmac
