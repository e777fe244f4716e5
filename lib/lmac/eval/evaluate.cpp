#include "lmac/eval/evaluate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "lmac/audio/pcm_samples.hpp"
#include "lmac/baselines/compressor.hpp"
#include "lmac/codec/chunk_codec.hpp"
#include "lmac/codec/file_codec.hpp"
#include "lmac/common/error.hpp"
#include "lmac/common/parallel.hpp"
#include "lmac/container/lmac_format.hpp"

namespace lmac {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Inputs laid end to end in one buffer, so that the codec sees plain ranges: an input is
// started, then its bytes appended (a chunk, or the chunks that make a whole file).
struct PackedInputs {
  Bytes buf;
  std::vector<ChunkRange> ranges;
  void start() { ranges.push_back({buf.size(), 0}); }
  void append(ByteSpan b) {
    buf.insert(buf.end(), b.begin(), b.end());
    ranges.back().size += b.size();
  }
};

// Whole input `w` (the bytes its file's chunks cover) appended to the packed inputs.
void append_whole(const Dataset& d, const WholeInput& w, PackedInputs& p) {
  for (size_t i = w.first_chunk; i < w.first_chunk + w.chunks; ++i) p.append(d.chunk_bytes(d.chunks[i]));
}

Measured measure_baseline(const Dataset& d, const std::string& name, std::span<const size_t> idx,
                          const EvalOptions& o) {
  auto comp = make_compressor(name);
  Measured m;
  std::vector<Bytes> packed(idx.size());
  size_t done = 0;
  std::mutex lock;
  auto t0 = Clock::now();
  parallel_for_each(o.threads, idx.size(), [&](size_t k) {
    const DatasetChunk& c = d.chunks[idx[k]];
    packed[k] = comp->compress(d.chunk_bytes(c), d.files[c.file].format);
    std::lock_guard g(lock);
    if (o.progress) o.progress(name, ++done, idx.size());
  });
  m.compress_seconds = seconds_since(t0);
  if (o.verify) {
    auto t1 = Clock::now();
    std::vector<char> same(idx.size());
    parallel_for_each(o.threads, idx.size(), [&](size_t k) {
      const DatasetChunk& c = d.chunks[idx[k]];
      ByteSpan want = d.chunk_bytes(c);
      Bytes got = comp->decompress(packed[k], d.files[c.file].format, want.size());
      same[k] = std::equal(got.begin(), got.end(), want.begin(), want.end());
    });
    m.decompress_seconds = seconds_since(t1);
    for (size_t k = 0; k < idx.size(); ++k)
      if (!same[k]) fail(fmt::format("{} did not give back the original bytes of chunk {}", name, idx[k]));
  }
  for (const Bytes& p : packed) m.chunks.push_back({p.size(), 0, 0, 0});
  return m;
}

const CodecModel* model_for(const std::string& name, const EvalOptions& o) {
  return name == "lm" ? o.model : name == "audio" ? o.audio_model : o.mix_model;
}

// The codec's options for a model row: what `lmac compress` does for audio and mix
// (incompressible chunks stored, a mix's chunks coded by the audio model alone where
// mixing is not smaller), except that a mix keeps every chunk the language model makes
// smaller at all (what it adds is what the row measures); the `lm` row is the model
// alone (the paper's experiment).
CodecOptions codec_options(const std::string& name, const EvalOptions& o) {
  CodecOptions co;
  co.tokenization = o.tokenization;
  co.threads = o.threads;
  co.batch = o.batch;
  co.exhaustive = o.exhaustive;
  co.store_incompressible = name != "lm";
  co.mixed_min_saving_per_mille = 0;
  return co;
}

// Codes the inputs `ranges` of `buf` (all of format f) with a model row in one codec
// call, verifying each when asked (one that does not come back throws, named by
// `what(g)`); adds the times to m and returns each input's records.
std::vector<ChunkRecord> code_inputs(const CodecModel& model, const std::string& name, const PcmFormat& f,
                                     const Bytes& buf, const std::vector<ChunkRange>& ranges, const EvalOptions& o,
                                     CodecOptions co, const std::function<std::string(size_t)>& what, Measured& m) {
  // A mix on inputs longer than its language model's context reads them in segments,
  // as `lmac compress` does.
  const size_t longest = std::max_element(ranges.begin(), ranges.end(), [](const auto& a, const auto& b) {
                           return a.size < b.size;
                         })->size;
  const ChunkSpec spec{&f, &o.serial, lm_segment_bytes(model, f, static_cast<uint32_t>(longest))};
  auto t0 = Clock::now();
  std::vector<ChunkRecord> recs = encode_chunks(model, spec, buf, ranges, co);
  m.compress_seconds += seconds_since(t0);
  if (!o.verify) return recs;
  co.progress = {};
  auto t1 = Clock::now();
  DecodedChunks dec = decode_chunks(model, spec, recs, ranges, std::vector<bool>(recs.size(), true), co);
  m.decompress_seconds += seconds_since(t1);
  for (size_t g = 0; g < recs.size(); ++g)
    if (!dec.chunks[g] || !std::equal(dec.chunks[g]->begin(), dec.chunks[g]->end(),
                                      buf.begin() + static_cast<ptrdiff_t>(ranges[g].offset)))
      fail(fmt::format("{} did not give back {} ({})", name, what(g), dec.errors[g]));
  return recs;
}

// Inputs (positions 0..n-1) grouped by format, so that each group goes through the codec
// together: format -> positions.
template <typename FormatOf>
std::map<std::pair<uint16_t, uint16_t>, std::vector<size_t>> by_format(size_t n, FormatOf&& format_of) {
  std::map<std::pair<uint16_t, uint16_t>, std::vector<size_t>> groups;
  for (size_t k = 0; k < n; ++k) {
    const PcmFormat& f = format_of(k);
    groups[{f.bits, f.channels}].push_back(k);
  }
  return groups;
}

Measured measure_model(const Dataset& d, const std::string& name, std::span<const size_t> indices,
                       const EvalOptions& o) {
  const CodecModel* model = model_for(name, o);
  if (model == nullptr) fail("the " + name + " compressor needs a model");
  Measured m;
  m.chunks.resize(indices.size());
  CodecOptions co = codec_options(name, o);
  size_t done_before = 0;
  const auto format_of = [&](size_t k) -> const PcmFormat& { return d.files[d.chunks[indices[k]].file].format; };
  for (const auto& group : by_format(indices.size(), format_of)) {
    const std::vector<size_t>& ks = group.second;
    PackedInputs p;
    for (size_t k : ks) {
      p.start();
      p.append(d.chunk_bytes(d.chunks[indices[k]]));
    }
    if (o.progress) co.progress = [&](size_t done, size_t) { o.progress(name, done_before + done, indices.size()); };
    const auto what = [&](size_t g) { return fmt::format("chunk {}", indices[ks[g]]); };
    const auto recs = code_inputs(*model, name, format_of(ks.front()), p.buf, p.ranges, o, co, what, m);
    for (size_t g = 0; g < recs.size(); ++g)
      m.chunks[ks[g]] = {record_bytes(recs[g]), recs[g].tokens.size(), recs[g].residual.size(), recs[g].token_count};
    done_before += ks.size();
  }
  return m;
}

std::string model_settings(const std::string& name, const EvalOptions& o) {
  const CodecModel* m = model_for(name, o);
  if (m == nullptr) return "";
  if (m->audio_mixing() == AudioMixing::WithLanguageModel)
    return fmt::format(
        "{}, {}, every bit coded, chunks the language model does not help coded by the audio model "
        "alone, incompressible chunks stored",
        m->name(), o.serial.describe());
  if (m->audio_mixing() != AudioMixing::None)
    return fmt::format("{}, {}, every bit coded, incompressible chunks stored", m->name(), o.serial.describe());
  return fmt::format("{}, {}, {} tokens", m->name(), o.serial.describe(),
                     o.tokenization == TokenMode::Char || !m->has_subword() ? "char" : "subword");
}

void count_raw(const Dataset& d, CompressorResult& r) {
  for (const auto& c : d.chunks) {
    r.raw_bytes += c.size;
    r.samples += c.size / static_cast<size_t>(d.files[c.file].format.bytes_per_sample());
    r.per_file[d.files[c.file].path].raw += c.size;
  }
  r.chunks = d.chunks.size();
}

}  // namespace

bool is_model_row(const std::string& name) { return name == "lm" || name == "audio" || name == "mix"; }

std::string skip_reason(const Dataset& d, const std::string& name) {
  if (is_model_row(name)) return "";
  auto comp = make_compressor(name);
  for (const auto& f : d.files)
    if (!comp->supports(f.format)) return "cannot code " + f.format.describe();
  return "";
}

Measured measure_chunks(const Dataset& d, const std::string& name, std::span<const size_t> indices,
                        const EvalOptions& o) {
  return is_model_row(name) ? measure_model(d, name, indices, o) : measure_baseline(d, name, indices, o);
}

std::vector<WholeInput> whole_input_sizes(const Dataset& d) {
  std::vector<WholeInput> out;
  for (size_t i = 0; i < d.chunks.size(); ++i) {
    if (i == 0 || d.chunks[i].file != d.chunks[i - 1].file) out.push_back({d.chunks[i].file, i, 0, 0});
    out.back().bytes += d.chunks[i].size;
    ++out.back().chunks;
  }
  return out;
}

size_t whole_count(const Dataset& d) { return whole_input_sizes(d).size(); }

bool has_whole_run(const std::string& name) { return name != "lm"; }

std::vector<uint64_t> measure_whole(const Dataset& d, const std::string& name, std::span<const size_t> wholes,
                                    const EvalOptions& o) {
  if (!has_whole_run(name)) fail("the " + name + " compressor has no whole-file run");
  const std::vector<WholeInput> inputs = whole_input_sizes(d);
  const auto format_of = [&](size_t k) -> const PcmFormat& { return d.files[inputs.at(wholes[k]).file].format; };
  std::vector<uint64_t> out(wholes.size());
  if (!is_model_row(name)) {
    auto comp = make_compressor(name);
    for (size_t k = 0; k < wholes.size(); ++k) {
      PackedInputs p;
      p.start();
      append_whole(d, inputs.at(wholes[k]), p);
      out[k] = comp->compress(p.buf, format_of(k)).size();
    }
    return out;
  }
  // Each input one chunk, as `lmac compress -m audio` (or a mix) with --chunk-size of the
  // file's size: a mix's language model starts afresh at each segment of what its context
  // holds, while the audio model runs through the file.
  const CodecModel* model = model_for(name, o);
  if (model == nullptr) fail("the " + name + " compressor needs a model");
  Measured unused;
  for (const auto& group : by_format(wholes.size(), format_of)) {
    const std::vector<size_t>& ks = group.second;
    PackedInputs p;
    for (size_t k : ks) {
      p.start();
      append_whole(d, inputs[wholes[k]], p);
    }
    const auto what = [&](size_t g) { return "the whole of " + d.files[inputs[wholes[ks[g]]].file].path; };
    const auto recs =
        code_inputs(*model, name, format_of(ks.front()), p.buf, p.ranges, o, codec_options(name, o), what, unused);
    for (size_t g = 0; g < recs.size(); ++g)  // the whole stream, named as lmac compress names it
      out[ks[g]] = record_bytes(recs[g]) + one_chunk_stream_overhead(stream_model(*model, o.audio_model, {&recs[g], 1}),
                                                                     format_of(ks[g]), o.serial, p.ranges[g].size);
  }
  return out;
}

CompressorResult summarize(const Dataset& d, const std::string& name, const EvalOptions& o,
                           const std::vector<ChunkFigures>& figures, const std::optional<std::vector<uint64_t>>& wholes,
                           const Measured& timing) {
  CompressorResult r;
  std::unique_ptr<Compressor> comp = is_model_row(name) ? nullptr : make_compressor(name);
  r.name = comp ? comp->name() : name;
  r.settings = comp ? comp->settings() : model_settings(name, o);
  count_raw(d, r);
  r.skipped = skip_reason(d, name);
  if (!r.skipped.empty()) return r;
  if (figures.size() != d.chunks.size())
    fail(fmt::format("{}: figures for {} of {} chunks", name, figures.size(), d.chunks.size()));
  uint64_t coded_tokens = 0;
  for (size_t i = 0; i < figures.size(); ++i) {
    const ChunkFigures& f = figures[i];
    r.compressed_bytes += f.compressed;
    r.residual_bytes += f.residual;
    r.tokens += f.tokens;
    coded_tokens += f.coded_tokens;
    r.per_file[d.files[d.chunks[i].file].path].compressed += f.compressed;
  }
  if (comp) {
    // The format's fixed cost: what one frame of silence compresses to.
    const PcmFormat& f0 = d.files.front().format;
    r.header_bytes = comp->compress(samples_to_pcm(std::vector<int32_t>(f0.channels, 0), f0), f0).size();
    const uint64_t repeated = r.header_bytes * (d.chunks.size() - 1);
    r.paper_bytes = double(r.compressed_bytes - std::min(r.compressed_bytes, repeated));
  } else if (name == "lm") {
    r.model_bytes = o.model_parameters * 2;
    r.paper_bytes = double(coded_tokens) * 8.0 / 7.0;
  } else {
    // Every bit is coded together: nothing to rescale, the paper's figure is the real one.
    r.model_bytes = name == "mix" ? o.model_parameters * 2 : 0;
    r.paper_bytes = double(r.compressed_bytes);
  }
  if (wholes) {
    uint64_t total = 0;
    for (uint64_t w : *wholes) total += w;
    r.whole_bytes = total;
  }
  r.compress_seconds = timing.compress_seconds;
  r.decompress_seconds = timing.decompress_seconds;
  r.verified = o.verify;
  return r;
}

std::vector<CompressorResult> evaluate(const Dataset& d, const EvalOptions& o) {
  std::vector<CompressorResult> out;
  std::vector<size_t> all(d.chunks.size()), all_wholes(whole_count(d));
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  for (size_t i = 0; i < all_wholes.size(); ++i) all_wholes[i] = i;
  for (const auto& name : o.compressors) {
    if (!skip_reason(d, name).empty()) {
      out.push_back(summarize(d, name, o, {}, std::nullopt, {}));
      continue;
    }
    Measured m = measure_chunks(d, name, all, o);
    std::optional<std::vector<uint64_t>> wholes;
    if (o.whole_files && has_whole_run(name)) wholes = measure_whole(d, name, all_wholes, o);
    out.push_back(summarize(d, name, o, m.chunks, wholes, m));
  }
  return out;
}

size_t work_unit(const std::string& compressor, const EvalOptions& o) {
  if (!is_model_row(compressor)) return 64;
  if (o.batch > 0) return static_cast<size_t>(o.batch);
  const CodecModel* m = model_for(compressor, o);
  return static_cast<size_t>(m ? m->max_auto_batch() : kHostBatch);
}

}  // namespace lmac
