#include "lmac/eval/evaluate.hpp"
#include "lmac/audio/pcm_samples.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "lmac/baselines/compressor.hpp"
#include "lmac/codec/chunk_codec.hpp"
#include "lmac/common/parallel.hpp"
#include "lmac/container/lmac_format.hpp"

namespace lmac {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void count_raw(const Dataset& d, CompressorResult& r) {
  for (const auto& c : d.chunks) {
    r.raw_bytes += c.size;
    r.samples += c.size / static_cast<size_t>(d.files[c.file].format.bytes_per_sample());
    r.per_file[d.files[c.file].path].raw += c.size;
  }
  r.chunks = d.chunks.size();
}

// The bytes of each file that the chunks cover, in order (the unchunked input).
std::vector<std::pair<size_t, Bytes>> whole_inputs(const Dataset& d) {
  std::vector<std::pair<size_t, Bytes>> out;
  for (const auto& c : d.chunks) {
    if (out.empty() || out.back().first != c.file) out.emplace_back(c.file, Bytes{});
    ByteSpan b = d.chunk_bytes(c);
    out.back().second.insert(out.back().second.end(), b.begin(), b.end());
  }
  return out;
}

CompressorResult run_baseline(const Dataset& d, const std::string& name, const EvalOptions& o) {
  auto comp = make_compressor(name);
  CompressorResult r;
  r.name = comp->name();
  r.settings = comp->settings();
  count_raw(d, r);
  for (const auto& f : d.files)
    if (!comp->supports(f.format)) {
      r.skipped = "cannot code " + f.format.describe();
      return r;
    }
  std::vector<Bytes> packed(d.chunks.size());
  auto t0 = Clock::now();
  parallel_for_each(o.threads, d.chunks.size(), [&](size_t i) {
    packed[i] = comp->compress(d.chunk_bytes(d.chunks[i]), d.files[d.chunks[i].file].format);
  });
  r.compress_seconds = seconds_since(t0);
  for (size_t i = 0; i < packed.size(); ++i) {
    r.compressed_bytes += packed[i].size();
    r.per_file[d.files[d.chunks[i].file].path].compressed += packed[i].size();
  }
  // The format's fixed cost: what one frame of silence compresses to.
  const PcmFormat& f0 = d.files.front().format;
  Bytes silence = samples_to_pcm(std::vector<int32_t>(f0.channels, 0), f0);
  r.header_bytes = comp->compress(silence, f0).size();
  const uint64_t repeated = r.header_bytes * (d.chunks.size() - 1);
  r.paper_bytes = double(r.compressed_bytes - std::min(r.compressed_bytes, repeated));
  if (o.verify) {
    auto t1 = Clock::now();
    std::vector<char> same(d.chunks.size());
    parallel_for_each(o.threads, d.chunks.size(), [&](size_t i) {
      ByteSpan want = d.chunk_bytes(d.chunks[i]);
      Bytes got = comp->decompress(packed[i], d.files[d.chunks[i].file].format, want.size());
      same[i] = std::equal(got.begin(), got.end(), want.begin(), want.end());
    });
    r.decompress_seconds = seconds_since(t1);
    if (std::count(same.begin(), same.end(), 0) > 0) fail(name + " did not give back the original bytes of a chunk");
    r.verified = true;
  }
  if (o.whole_files) {
    uint64_t total = 0;
    for (const auto& [fi, bytes] : whole_inputs(d)) total += comp->compress(bytes, d.files[fi].format).size();
    r.whole_bytes = total;
  }
  if (o.progress) o.progress(name, 1, 1);
  return r;
}

CompressorResult run_lm(const Dataset& d, const EvalOptions& o) {
  if (o.model == nullptr) fail("the lm compressor needs a model");
  CompressorResult r;
  r.name = "lm";
  r.settings = fmt::format("{}, {}, {} tokens", o.model->name(), o.serial.describe(),
                           o.tokenization == TokenMode::Char || !o.model->has_subword() ? "char" : "subword");
  count_raw(d, r);
  r.model_bytes = o.model_parameters * 2;
  // Chunks of files with the same format go through the codec together.
  std::map<std::pair<uint16_t, uint16_t>, std::vector<size_t>> groups;
  for (size_t i = 0; i < d.chunks.size(); ++i) {
    const PcmFormat& f = d.files[d.chunks[i].file].format;
    groups[{f.bits, f.channels}].push_back(i);
  }
  CodecOptions co;
  co.tokenization = o.tokenization;
  co.threads = o.threads;
  co.batch = o.batch;
  co.store_incompressible = false;  // the `lm` row is the model alone (the paper's experiment)
  size_t done_before = 0;
  for (const auto& [key, idx] : groups) {
    const PcmFormat& f = d.files[d.chunks[idx.front()].file].format;
    // One contiguous buffer per group so the codec sees plain ranges.
    Bytes buf;
    std::vector<ChunkRange> ranges;
    for (size_t i : idx) {
      ByteSpan b = d.chunk_bytes(d.chunks[i]);
      ranges.push_back({buf.size(), b.size()});
      buf.insert(buf.end(), b.begin(), b.end());
    }
    if (o.progress) co.progress = [&](size_t done, size_t) { o.progress("lm", done_before + done, d.chunks.size()); };
    auto t0 = Clock::now();
    std::vector<ChunkRecord> recs = encode_chunks(*o.model, {&f, &o.serial}, buf, ranges, co);
    r.compress_seconds += seconds_since(t0);
    for (size_t k = 0; k < recs.size(); ++k) {
      const uint64_t bytes = record_bytes(recs[k]);  // as stored in .lmac
      r.compressed_bytes += bytes;
      r.residual_bytes += recs[k].residual.size();
      r.tokens += recs[k].token_count;
      r.paper_bytes += double(recs[k].tokens.size()) * 8.0 / 7.0;
      r.per_file[d.files[d.chunks[idx[k]].file].path].compressed += bytes;
    }
    if (o.verify) {
      co.progress = {};
      auto t1 = Clock::now();
      DecodedChunks dec =
          decode_chunks(*o.model, {&f, &o.serial}, recs, ranges, std::vector<bool>(recs.size(), true), co);
      r.decompress_seconds += seconds_since(t1);
      for (size_t k = 0; k < recs.size(); ++k)
        if (!dec.chunks[k] || !std::equal(dec.chunks[k]->begin(), dec.chunks[k]->end(),
                                          buf.begin() + static_cast<ptrdiff_t>(ranges[k].offset)))
          fail(fmt::format("lm did not give back chunk {} ({})", idx[k], dec.errors[k]));
    }
    done_before += idx.size();
  }
  r.verified = o.verify;
  return r;
}

}  // namespace

std::vector<CompressorResult> evaluate(const Dataset& d, const EvalOptions& o) {
  std::vector<CompressorResult> out;
  for (const auto& name : o.compressors) out.push_back(name == "lm" ? run_lm(d, o) : run_baseline(d, name, o));
  return out;
}

}  // namespace lmac
