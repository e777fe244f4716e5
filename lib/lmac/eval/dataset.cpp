#include "lmac/eval/dataset.hpp"
#include "lmac/audio/pcm_samples.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>

#include <sys/stat.h>

#include "lmac/audio/audio_file.hpp"
#include "lmac/baselines/compressor.hpp"
#include "lmac/common/file_io.hpp"
#include "lmac/common/hash.hpp"

namespace lmac {
namespace fs = std::filesystem;

ChannelMode parse_channel_mode(const std::string& s, uint32_t* block_n) {
  if (s == "first") return ChannelMode::First;
  if (s == "interleave" || s == "interleaved") return ChannelMode::Interleave;
  if (s == "mixdown") return ChannelMode::Mixdown;
  if (s.rfind("blocked:", 0) == 0) {
    long n = std::strtol(s.c_str() + 8, nullptr, 10);
    if (n <= 0) fail("bad --channels '" + s + "': blocked:N needs N >= 1");
    *block_n = static_cast<uint32_t>(n);
    return ChannelMode::Blocked;
  }
  fail("unknown --channels '" + s + "' (first, interleave, blocked:N, mixdown)");
}

namespace {

// A sample as a signed integer at 32-bit scale (high bits aligned), whatever its format.
std::vector<int64_t> to_scaled(ByteSpan pcm, const PcmFormat& f) {
  std::vector<int64_t> out;
  if (f.kind == SampleKind::Float) {
    out.resize(pcm.size() / 4);
    for (size_t i = 0; i < out.size(); ++i) {
      uint32_t b = static_cast<uint32_t>(load_endian(pcm.data() + 4 * i, 4, f.big_endian));
      float x;
      std::memcpy(&x, &b, 4);
      double v = std::isfinite(x) ? std::clamp(static_cast<double>(x), -1.0, 1.0) : 0.0;
      out[i] = std::clamp<int64_t>(std::llround(v * 2147483648.0), INT32_MIN, INT32_MAX);
    }
    return out;
  }
  for (int32_t s : pcm_to_samples(pcm, f)) out.push_back(static_cast<int64_t>(s) * (int64_t{1} << (32 - f.bits)));
  return out;
}

}  // namespace

DatasetFile convert_audio(const std::string& path, const PcmFormat& f, ByteSpan pcm, const DatasetOptions& o) {
  std::vector<int64_t> s = to_scaled(pcm, f);
  const size_t ch = f.channels, frames = s.size() / ch;
  std::vector<int64_t> picked;
  uint16_t out_channels = f.channels;
  switch (o.channels) {
    case ChannelMode::First:
      out_channels = 1;
      for (size_t i = 0; i < frames; ++i) picked.push_back(s[i * ch]);
      break;
    case ChannelMode::Mixdown:
      out_channels = 1;
      for (size_t i = 0; i < frames; ++i) {
        int64_t sum = 0;
        for (size_t c = 0; c < ch; ++c) sum += s[i * ch + c];
        // floor division keeps the mean in range and is the same on every platform
        picked.push_back(sum >= 0 ? sum / static_cast<int64_t>(ch)
                                  : -((-sum + static_cast<int64_t>(ch) - 1) / static_cast<int64_t>(ch)));
      }
      break;
    case ChannelMode::Blocked:
      // The old --stereo_blocking_n: N samples of each channel in turn, as one stream.
      out_channels = 1;
      for (size_t start = 0; start < frames; start += o.block_n)
        for (size_t c = 0; c < ch; ++c)
          for (size_t i = start; i < std::min(frames, start + o.block_n); ++i) picked.push_back(s[i * ch + c]);
      break;
    case ChannelMode::Interleave:
      picked = std::move(s);
      break;
  }
  DatasetFile out;
  out.path = path;
  out.format.bits = static_cast<uint16_t>(o.bit_depth);
  out.format.channels = out_channels;
  out.format.rate = f.rate;
  out.format.kind = o.bit_depth == 8 ? SampleKind::Unsigned : SampleKind::Signed;
  out.format.big_endian = false;
  std::vector<int32_t> target(picked.size());
  for (size_t i = 0; i < picked.size(); ++i) target[i] = static_cast<int32_t>(picked[i] >> (32 - o.bit_depth));
  out.pcm = samples_to_pcm(target, out.format);
  return out;
}

namespace {

// The regular files under the folders, sorted, each path once; links to nothing go to
// `skipped`.
std::vector<std::string> list_files(const std::vector<std::string>& dirs, Dataset& ds) {
  std::vector<std::string> paths;
  for (const auto& d : dirs) {
    std::error_code ec;
    if (!fs::is_directory(d, ec)) fail(d + ": not a directory");
    for (auto it = fs::recursive_directory_iterator(d, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      std::error_code kind;
      if (it->is_regular_file(kind))
        paths.push_back(it->path().string());
      else if (it->is_symlink(kind) && !it->exists(kind))  // a file of the set, gone: say so
        ds.skipped.emplace_back(it->path().string(), "a link to nothing");
    }
    // A walk that stopped early would leave a smaller set than the folders hold.
    if (ec) fail(d + ": cannot list its files: " + ec.message());
  }
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());  // a folder given twice
  return paths;
}

// Each file once (by its first path), read and converted, into ds.files; what cannot be
// read as audio goes to `skipped` with the reason.
void read_files(const std::vector<std::string>& paths, const DatasetOptions& o, Dataset& ds) {
  Hasher list_hash;
  std::map<std::pair<dev_t, ino_t>, std::string> seen;
  for (const auto& p : paths) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) {
      const auto [first, fresh] = seen.try_emplace({st.st_dev, st.st_ino}, p);
      if (!fresh) {
        ds.skipped.emplace_back(p, "the same file as " + first->second);
        continue;
      }
    }
    try {
      AudioFile a = parse_audio(read_file(p), std::nullopt);
      DatasetFile f = convert_audio(p, a.format, a.data, o);
      if (f.pcm.empty()) throw Error("no samples");
      list_hash.update(p.data(), p.size() + 1);
      ds.files.push_back(std::move(f));
    } catch (const std::exception& e) {
      ds.skipped.emplace_back(p, e.what());
    }
  }
  std::sort(ds.skipped.begin(), ds.skipped.end());  // (the walk's order is the file system's)
  ds.file_list_hash = list_hash.digest();
}

// Every file cut into chunks of o.chunk_bytes, then sampled as the options say.
void cut_chunks(const DatasetOptions& o, Dataset& ds) {
  for (size_t fi = 0; fi < ds.files.size(); ++fi) {
    const int fb = ds.files[fi].format.frame_bytes();
    if (o.chunk_bytes % static_cast<uint32_t>(fb))
      fail(fmt::format("--chunk-size {} is not a multiple of the frame size {} of {} after conversion", o.chunk_bytes,
                       fb, ds.files[fi].path));
    const size_t n = ds.files[fi].pcm.size();
    for (size_t off = 0; off < n; off += o.chunk_bytes) {
      size_t size = std::min<size_t>(o.chunk_bytes, n - off);
      if (size < o.chunk_bytes && o.drop_partial) break;
      ds.chunks.push_back({fi, off, size});
    }
  }
  if (o.random) {  // Fisher-Yates on mt19937_64 (standardized), so a seed picks the same chunks everywhere
    std::mt19937_64 rng(o.seed);
    for (size_t i = ds.chunks.size(); i > 1; --i) std::swap(ds.chunks[i - 1], ds.chunks[rng() % i]);
  }
  if (o.num_chunks > 0 && ds.chunks.size() > o.num_chunks) ds.chunks.resize(o.num_chunks);
  if (o.random)
    std::sort(ds.chunks.begin(), ds.chunks.end(), [](const DatasetChunk& a, const DatasetChunk& b) {
      return std::tie(a.file, a.offset) < std::tie(b.file, b.offset);
    });
}

}  // namespace

Dataset load_dataset(const DatasetOptions& o) {
  if (o.dirs.empty()) fail("no --audio-dir given");
  if (o.bit_depth != 8 && o.bit_depth != 16 && o.bit_depth != 24 && o.bit_depth != 32)
    fail(fmt::format("--bit-depth {} is not 8, 16, 24 or 32", o.bit_depth));
  Dataset ds;
  const std::vector<std::string> paths = list_files(o.dirs, ds);
  read_files(paths, o, ds);
  if (ds.files.empty())
    fail(paths.empty() ? "no files found in the --audio-dir folders"
                       : "none of the files found could be read as audio");
  cut_chunks(o, ds);
  if (ds.chunks.empty()) fail("no chunks to evaluate (all files shorter than one chunk with --drop-partial?)");
  return ds;
}

}  // namespace lmac
