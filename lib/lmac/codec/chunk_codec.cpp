#include "lmac/codec/chunk_codec.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "lmac/codec/detail/audio_chunks.hpp"
#include "lmac/codec/detail/chunk_codec_common.hpp"
#include "lmac/coding/arithmetic_coder.hpp"
#include "lmac/coding/residual_coder.hpp"
#include "lmac/common/hash.hpp"
#include "lmac/common/parallel.hpp"

namespace lmac {
namespace {

struct Prepared {
  TokenMode mode = TokenMode::Char;
  std::vector<int32_t> tokens;
  CodedResidual residual;
};

Prepared prepare(const CodecModel& model, const ChunkSpec& spec, ByteSpan chunk, TokenMode wanted) {
  Serialized s = serialize(*spec.format, *spec.serial, chunk);
  Prepared p{TokenMode::Char, {}, encode_residual(s.residual, spec.format->bytes_per_sample())};
  if (wanted == TokenMode::Subword && model.has_subword() && !s.symbols.empty()) {
    std::vector<int32_t> t = model.tokenize(s.symbols);
    // Never more tokens than characters: the decoder refuses such a count (a small
    // vocabulary's lone word-start token can make one more), and it would cost more.
    if (t.size() <= s.symbols.size() && model.detokenize(t) == s.symbols) {
      p.mode = TokenMode::Subword;
      p.tokens = std::move(t);
    }
  }
  if (p.mode == TokenMode::Char) p.tokens.assign(s.symbols.begin(), s.symbols.end());
  if (p.tokens.size() > model.max_tokens())
    fail(fmt::format(
        "a chunk of {} bytes needs {} tokens but the model's context holds {}; use a chunk size of at "
        "most {} bytes",
        chunk.size(), p.tokens.size(), model.max_tokens(),
        chunk.size() * model.max_tokens() / p.tokens.size() / spec.format->frame_bytes() * spec.format->frame_bytes()));
  return p;
}

// Runs one group of same-mode chunks through a predictor, encoding every token.
void encode_group(Predictor& pred, const std::vector<Prepared*>& group, std::vector<Bytes>& coded) {
  std::vector<ArithmeticEncoder> enc(group.size());
  std::vector<size_t> lengths;
  lengths.reserve(group.size());
  for (const Prepared* p : group) lengths.push_back(p->tokens.size());
  feed_known_intervals(
      pred, lengths, [&](size_t g, size_t t) { return group[g]->tokens[t]; },
      [&](size_t g, size_t, const Interval& iv) { enc[g].encode(iv.cum, iv.freq, iv.total); });
  for (size_t g = 0; g < group.size(); ++g) coded[g] = enc[g].finish();
}

// Calls fn(group_indices, predictor) for each group of chunks of one mode (tokens[i]:
// chunk i's token count, its work).
template <typename Fn>
void run_groups(const CodecModel& model, const std::vector<TokenMode>& modes, const std::vector<size_t>& tokens,
                const CodecOptions& o, Fn&& fn) {
  for (TokenMode mode : {TokenMode::Char, TokenMode::Subword}) {
    std::vector<size_t> members, cost;
    for (size_t i = 0; i < modes.size(); ++i)
      if (modes[i] == mode) members.push_back(i), cost.push_back(tokens[i]);
    run_batches(model, mode, members, cost, o.batch, o,
                [&](const std::vector<size_t>& g, Predictor* pred) { fn(g, *pred); });
  }
}

}  // namespace

std::vector<ChunkRecord> encode_chunks(const CodecModel& model, const ChunkSpec& spec, ByteSpan data,
                                       const std::vector<ChunkRange>& ranges, const CodecOptions& o) {
  if (model.audio_mixing() != AudioMixing::None) return encode_audio_chunks(model, spec, data, ranges, o);
  std::vector<Prepared> prepared(ranges.size());
  std::vector<TokenMode> modes(ranges.size());
  std::vector<size_t> tokens(ranges.size());
  for (size_t i = 0; i < ranges.size(); ++i) {
    prepared[i] = prepare(model, spec, data.subspan(ranges[i].offset, ranges[i].size), o.tokenization);
    modes[i] = prepared[i].mode;
    tokens[i] = prepared[i].tokens.size();
  }
  std::vector<ChunkRecord> records(ranges.size());
  ChunkProgress progress{o.progress, ranges.size()};
  run_groups(model, modes, tokens, o, [&](const std::vector<size_t>& idx, Predictor& pred) {
    std::vector<Prepared*> group;
    group.reserve(idx.size());
    for (size_t i : idx) group.push_back(&prepared[i]);
    std::vector<Bytes> coded(idx.size());
    encode_group(pred, group, coded);
    for (size_t g = 0; g < idx.size(); ++g) {
      ChunkRecord& r = records[idx[g]];
      Prepared& p = prepared[idx[g]];
      r.mode = p.mode;
      r.token_count = static_cast<uint32_t>(p.tokens.size());
      r.tokens = std::move(coded[g]);
      r.residual_mode = p.residual.mode;
      r.residual = std::move(p.residual.bytes);
      const ByteSpan chunk = data.subspan(ranges[idx[g]].offset, ranges[idx[g]].size);
      r.checksum = hash64(chunk);
      if (o.store_incompressible && r.tokens.size() + r.residual.size() >= chunk.size()) store_verbatim(r, chunk);
    }
    progress.add(idx.size());
  });
  return records;
}

namespace {

std::vector<std::vector<int32_t>> decode_token_group(Predictor& pred, const std::vector<const ChunkRecord*>& group) {
  std::vector<ArithmeticDecoder> dec;
  dec.reserve(group.size());
  std::vector<std::vector<int32_t>> tokens(group.size());
  std::vector<size_t> lengths;
  for (const ChunkRecord* r : group) dec.emplace_back(r->tokens), lengths.push_back(r->token_count);
  feed_searched(
      pred, lengths, [&](size_t g, uint32_t total) { return dec[g].target(total); },
      [&](size_t g, int32_t s, const Interval& iv) {
        dec[g].consume(iv.cum, iv.freq, iv.total);
        tokens[g].push_back(s);
      });
  return tokens;
}

// Chunk i's fate before any model runs: a stored chunk is restored (or its error set)
// here; a chunk coded bit by bit goes to `audio_coded`, one coded as tokens that this
// model can decode to `token_coded`; any other gets its error.
void sort_records(const CodecModel& model, const std::vector<ChunkRecord>& records,
                  const std::vector<ChunkRange>& ranges, const std::vector<bool>& wanted, DecodedChunks& d,
                  std::vector<size_t>& audio_coded, std::vector<size_t>& token_coded) {
  for (size_t i = 0; i < records.size(); ++i) {
    if (!wanted[i]) continue;
    const ChunkRecord& r = records[i];
    if (r.stored) {  // no model involved: the bytes themselves, checked
      if (r.tokens.size() != ranges[i].size)
        d.errors[i] = "stored chunk has the wrong size";
      else if (!chunk_checksum_matches(r, r.tokens))
        d.errors[i] = "checksum mismatch in a stored chunk";
      else
        d.chunks[i] = r.tokens;
    } else if (codes_bits(r.mode))
      audio_coded.push_back(i);  // checked and decoded by the audio codec
    else if (r.token_count > ranges[i].size || r.token_count > model.max_tokens())
      d.errors[i] = "token count larger than the chunk or the model's context";
    else if (r.mode == TokenMode::Subword && !model.has_subword())
      d.errors[i] = "chunk needs a subword tokenizer";
    else if (model.audio_mixing() != AudioMixing::None)
      d.errors[i] = "chunk was coded as tokens; the audio and mix models code bits";
    else
      token_coded.push_back(i);
  }
}

// A chunk's bytes from its decoded tokens and its residual bits, checked.
Bytes restore_token_chunk(const CodecModel& model, const ChunkSpec& spec, const ChunkRecord& r, size_t size,
                          const std::vector<int32_t>& tokens) {
  std::string symbols;
  if (r.mode == TokenMode::Subword)
    symbols = model.detokenize(tokens);
  else
    symbols.assign(tokens.begin(), tokens.end());
  if (symbols.size() != size) fail_format("decoded size differs from the chunk size");
  auto bits = decode_residual({r.residual_mode, r.residual}, symbols.size(), spec.format->bytes_per_sample());
  Bytes chunk = deserialize(*spec.format, *spec.serial, symbols, bits);
  if (!chunk_checksum_matches(r, chunk)) fail_format("checksum mismatch after decoding");
  return chunk;
}

}  // namespace

DecodedChunks decode_chunks(const CodecModel& model, const ChunkSpec& spec, const std::vector<ChunkRecord>& records,
                            const std::vector<ChunkRange>& ranges, const std::vector<bool>& wanted,
                            const CodecOptions& o) {
  DecodedChunks d;
  d.chunks.resize(records.size());
  d.errors.resize(records.size());
  std::vector<size_t> audio_coded, index_map;  // chunks coded bit by bit; chunks coded as tokens
  sort_records(model, records, ranges, wanted, d, audio_coded, index_map);
  std::vector<TokenMode> sub_modes;
  std::vector<size_t> sub_tokens;
  for (size_t i : index_map) sub_modes.push_back(records[i].mode), sub_tokens.push_back(records[i].token_count);
  ChunkProgress progress{o.progress, records.size()};
  // stored or skipped; audio-coded chunks report their own
  if (index_map.size() + audio_coded.size() < records.size())
    progress.add(records.size() - index_map.size() - audio_coded.size());
  decode_audio_chunks(model, spec, records, ranges, audio_coded, o, progress, d);
  run_groups(model, sub_modes, sub_tokens, o, [&](const std::vector<size_t>& idx, Predictor& pred) {
    std::vector<const ChunkRecord*> group;
    group.reserve(idx.size());
    for (size_t k : idx) group.push_back(&records[index_map[k]]);
    auto tokens = decode_token_group(pred, group);
    for (size_t g = 0; g < idx.size(); ++g) {
      const size_t i = index_map[idx[g]];
      try {
        d.chunks[i] = restore_token_chunk(model, spec, records[i], ranges[i].size, tokens[g]);
      } catch (const Error& e) {
        d.errors[i] = e.what();
      }
    }
    progress.add(idx.size());
  });
  return d;
}

}  // namespace lmac
