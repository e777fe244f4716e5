// The evaluation harness: dataset conversion and chunking (golden), baselines checked
// against independent calls of the same libraries, and the reports.
#include <gtest/gtest.h>

#include <bzlib.h>
#include <lzma.h>
#include <sndfile.h>
#include <zlib.h>
#include <zstd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "lmac/audio/pcm_samples.hpp"
#include "lmac/baselines/compressor.hpp"
#include "lmac/codec/model.hpp"
#include "lmac/eval/report.hpp"
#include "lmac/models/model_registry.hpp"
#include "test_support.hpp"

namespace lmac {
namespace {

namespace fs = std::filesystem;

std::string make_dir(const std::string& name) {
  std::string d = test::temp_dir() + "/" + name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

PcmFormat s16(int channels) {
  PcmFormat f;
  f.channels = static_cast<uint16_t>(channels);
  f.rate = 16000;
  return f;
}

// A fresh folder holding a.wav: `frames` frames of 16-bit mono sine and noise.
std::string one_wav_dir(const std::string& name, size_t frames) {
  std::string d = make_dir(name);
  PcmFormat f = s16(1);
  test::write_bytes(d + "/a.wav", test::make_wav(f, test::make_pcm(f, frames, test::Content::SineNoise)));
  return d;
}

TEST(Dataset, BitDepthConversionKeepsHighBits) {
  PcmFormat f = s16(1);
  Bytes pcm = samples_to_pcm({0x1234, -2, 32767, -32768}, f);
  DatasetOptions o;
  o.bit_depth = 8;
  DatasetFile d8 = convert_audio("x", f, pcm, o);
  EXPECT_EQ(d8.pcm, (Bytes{0x92, 0x7F, 0xFF, 0x00}));  // high byte, offset binary
  EXPECT_EQ(d8.format.kind, SampleKind::Unsigned);
  o.bit_depth = 24;
  DatasetFile d24 = convert_audio("x", f, pcm, o);
  EXPECT_EQ(pcm_to_samples(d24.pcm, d24.format), (std::vector<int32_t>{0x123400, -512, 32767 * 256, -32768 * 256}));
  PcmFormat u8;
  u8.bits = 8;
  u8.kind = SampleKind::Unsigned;
  o.bit_depth = 16;
  DatasetFile up = convert_audio("x", u8, Bytes{0x00, 0x80, 0xFF}, o);
  EXPECT_EQ(pcm_to_samples(up.pcm, up.format), (std::vector<int32_t>{-32768, 0, 0x7F00}));
  PcmFormat fl;
  fl.bits = 32;
  fl.kind = SampleKind::Float;
  float vals[3] = {0.5f, -1.0f, 2.0f};
  Bytes fb(12);
  std::memcpy(fb.data(), vals, 12);
  o.bit_depth = 16;
  DatasetFile ff = convert_audio("x", fl, fb, o);
  EXPECT_EQ(pcm_to_samples(ff.pcm, ff.format), (std::vector<int32_t>{16384, -32768, 32767}));
}

TEST(Dataset, ChannelHandling) {
  PcmFormat f = s16(2);
  Bytes pcm = samples_to_pcm({256, 512, 768, -1024, 1280, 1536}, f);  // frames (L,R)
  DatasetOptions o;
  o.bit_depth = 16;
  auto samples = [&](ChannelMode m, uint32_t n = 1) {
    o.channels = m;
    o.block_n = n;
    DatasetFile d = convert_audio("x", f, pcm, o);
    return std::make_pair(pcm_to_samples(d.pcm, d.format), d.format.channels);
  };
  EXPECT_EQ(samples(ChannelMode::First), std::make_pair(std::vector<int32_t>{256, 768, 1280}, uint16_t{1}));
  EXPECT_EQ(samples(ChannelMode::Mixdown), std::make_pair(std::vector<int32_t>{384, -128, 1408}, uint16_t{1}));
  EXPECT_EQ(samples(ChannelMode::Blocked, 2),
            std::make_pair(std::vector<int32_t>{256, 768, 512, -1024, 1280, 1536}, uint16_t{1}));
  EXPECT_EQ(samples(ChannelMode::Interleave).second, 2);
}

TEST(Dataset, ChunkCountsSelectionAndSkippedFiles) {
  std::string dir = make_dir("ds");
  PcmFormat f = s16(1);
  // 1000 and 3000 samples: 8-bit data of 1000 and 3000 bytes; chunks of 256 bytes.
  test::write_bytes(dir + "/b.wav", test::make_wav(f, test::make_pcm(f, 3000, test::Content::SineNoise)));
  fs::create_directories(dir + "/sub");
  test::write_bytes(dir + "/sub/a.wav", test::make_wav(f, test::make_pcm(f, 1000, test::Content::SineNoise)));
  test::write_bytes(dir + "/notes.txt", Bytes{'n', 'o'});
  fs::create_symlink(dir + "/gone.wav", dir + "/sub/link.wav");  // a link to nothing: skipped, and said
  DatasetOptions o;
  o.dirs = {dir};
  o.chunk_bytes = 256;
  Dataset d = load_dataset(o);
  ASSERT_EQ(d.files.size(), 2u);
  EXPECT_EQ(d.files[0].path, dir + "/b.wav");  // sorted paths: "b.wav" < "notes.txt" < "sub/a.wav"
  EXPECT_EQ(d.chunks.size(), 12u + 4u);        // ceil(3000/256) + ceil(1000/256)
  ASSERT_EQ(d.skipped.size(), 2u);
  EXPECT_EQ(d.skipped[0].first, dir + "/notes.txt");
  EXPECT_EQ(d.skipped[1], std::make_pair(dir + "/sub/link.wav", std::string("a link to nothing")));
  o.drop_partial = true;
  EXPECT_EQ(load_dataset(o).chunks.size(), 11u + 3u);
  o.num_chunks = 5;
  Dataset seq = load_dataset(o);
  ASSERT_EQ(seq.chunks.size(), 5u);
  EXPECT_EQ(seq.chunks[4].offset, 4u * 256u);
  o.random = true;
  o.seed = 42;
  Dataset r1 = load_dataset(o), r2 = load_dataset(o);
  ASSERT_EQ(r1.chunks.size(), 5u);
  for (size_t i = 0; i < 5; ++i)
    EXPECT_EQ(r1.chunks[i].offset + r1.chunks[i].file, r2.chunks[i].offset + r2.chunks[i].file);
  o.chunk_bytes = 255;
  o.bit_depth = 16;
  EXPECT_THROW(load_dataset(o), Error);
  o.dirs = {make_dir("empty")};
  try {
    load_dataset(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no files found"), std::string::npos);
  }
}

// A file reached by several paths (a link, a hard link, a folder given twice or inside
// another given) is measured once, under its first path; the others are listed.
TEST(Dataset, AFileReachedByTwoPathsCountsOnce) {
  std::string dir = make_dir("dup");
  PcmFormat f = s16(1);
  test::write_bytes(dir + "/a.wav", test::make_wav(f, test::make_pcm(f, 1000, test::Content::SineNoise)));
  fs::create_directories(dir + "/sub");
  test::write_bytes(dir + "/sub/b.wav", test::make_wav(f, test::make_pcm(f, 600, test::Content::Square)));
  fs::create_symlink(dir + "/a.wav", dir + "/sub/link.wav");
  fs::create_hard_link(dir + "/sub/b.wav", dir + "/hard.wav");
  DatasetOptions o;
  o.dirs = {dir, dir + "/sub"};
  o.chunk_bytes = 256;
  const Dataset d = load_dataset(o);
  ASSERT_EQ(d.files.size(), 2u);
  EXPECT_EQ(d.files[0].path, dir + "/a.wav");
  EXPECT_EQ(d.files[1].path, dir + "/hard.wav");  // first in path order: "hard.wav" < "sub/b.wav"
  EXPECT_EQ(d.chunks.size(), 4u + 3u);            // ceil(1000/256) + ceil(600/256), 8-bit
  ASSERT_EQ(d.skipped.size(), 2u);                // the same path twice is one path
  EXPECT_EQ(d.skipped[0], std::make_pair(dir + "/sub/b.wav", "the same file as " + dir + "/hard.wav"));
  EXPECT_EQ(d.skipped[1], std::make_pair(dir + "/sub/link.wav", "the same file as " + dir + "/a.wav"));
}

Bytes gzip_independent(ByteSpan in) {
  z_stream s{};
  deflateInit2(&s, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY);
  Bytes out(in.size() + 1024);
  s.next_in = const_cast<Bytef*>(in.data());
  s.avail_in = static_cast<uInt>(in.size());
  s.next_out = out.data();
  s.avail_out = static_cast<uInt>(out.size());
  deflate(&s, Z_FINISH);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

TEST(Baselines, RatesEqualIndependentLibraryCalls) {
  std::string dir = one_wav_dir("rates", 5000);
  DatasetOptions o;
  o.dirs = {dir};
  o.bit_depth = 16;
  o.chunk_bytes = 1024;
  Dataset d = load_dataset(o);
  EvalOptions e;
  e.compressors = {"gzip", "lzma2", "zstd19", "bzip2", "flac", "wavpack"};
  auto results = evaluate(d, e);
  uint64_t gz = 0, xz = 0, zs = 0, bz = 0;
  for (const auto& c : d.chunks) {
    ByteSpan b = d.chunk_bytes(c);
    gz += gzip_independent(b).size();
    Bytes x(lzma_stream_buffer_bound(b.size()));
    size_t pos = 0;
    lzma_easy_buffer_encode(9 | LZMA_PRESET_EXTREME, LZMA_CHECK_CRC64, nullptr, b.data(), b.size(), x.data(), &pos,
                            x.size());
    xz += pos;
    ZSTD_CCtx* zc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(zc, ZSTD_c_compressionLevel, 19);
    ZSTD_CCtx_setParameter(zc, ZSTD_c_enableLongDistanceMatching, 1);
    Bytes z(ZSTD_compressBound(b.size()));
    zs += ZSTD_compress2(zc, z.data(), z.size(), b.data(), b.size());
    ZSTD_freeCCtx(zc);
    unsigned int len = 4096;
    char out[4096];
    BZ2_bzBuffToBuffCompress(out, &len, const_cast<char*>(reinterpret_cast<const char*>(b.data())),
                             static_cast<unsigned int>(b.size()), 9, 0, 0);
    bz += len;
  }
  EXPECT_EQ(results[0].compressed_bytes, gz);
  EXPECT_EQ(results[1].compressed_bytes, xz);
  EXPECT_EQ(results[2].compressed_bytes, zs);
  EXPECT_EQ(results[3].compressed_bytes, bz);
  for (const auto& r : results) {
    EXPECT_TRUE(r.verified) << r.name;
    EXPECT_EQ(r.raw_bytes, 10000u);
    EXPECT_EQ(r.samples, 5000u);
    EXPECT_NEAR(r.real_rate(), double(r.compressed_bytes) / 10000.0, 1e-12);
    EXPECT_LE(r.paper_bytes, double(r.compressed_bytes));
    ASSERT_TRUE(r.whole_bytes.has_value());
  }
  // FLAC bytes decode with an independent decoder (libsndfile) to the same samples.
  auto flac = make_compressor("flac");
  ByteSpan chunk = d.chunk_bytes(d.chunks[0]);
  Bytes packed = flac->compress(chunk, d.files[0].format);
  std::string path = dir + "/c.flac";
  test::write_bytes(path, packed);
  SF_INFO info{};
  SNDFILE* sf = sf_open(path.c_str(), SFM_READ, &info);
  ASSERT_NE(sf, nullptr);
  std::vector<short> got(512);
  EXPECT_EQ(sf_read_short(sf, got.data(), 512), 512);
  sf_close(sf);
  std::vector<int32_t> want = pcm_to_samples(chunk, d.files[0].format);
  for (size_t i = 0; i < 512; ++i) ASSERT_EQ(got[i], want[i]) << i;
}

TEST(Baselines, UnknownNamesAndUnsupportedFormats) {
  EXPECT_THROW(make_compressor("rar"), Error);
  PcmFormat fl;
  fl.bits = 32;
  fl.kind = SampleKind::Float;
  EXPECT_FALSE(make_compressor("flac")->supports(fl));
  Bytes data = test::make_pcm(fl, 100, test::Content::FloatSpecials);
  auto wv = make_compressor("wavpack");
  EXPECT_EQ(wv->decompress(wv->compress(data, fl), fl, data.size()), data);
}

// one_wav_dir's file in 512-byte chunks.
Dataset chunked_wav(const std::string& name, size_t frames) {
  DatasetOptions o;
  o.dirs = {one_wav_dir(name, frames)};
  o.chunk_bytes = 512;
  return load_dataset(o);
}

TEST(Report, JsonCsvAndSvg) {
  Dataset d = chunked_wav("report", 2000);
  EvalOptions e;
  e.compressors = {"gzip", "flac"};
  auto results = evaluate(d, e);
  nlohmann::json j = report_json(d, results, {{"bit_depth", 8}, {"chunk_size", 512}}, "", 0);
  EXPECT_NO_THROW(check_report(j, "x"));
  EXPECT_EQ(j["compressors"].size(), 2u);
  EXPECT_EQ(j["compressors"][1]["files"][0]["raw_bytes"], 2000u);
  EXPECT_NE(format_table(j).find("flac"), std::string::npos);
  std::string csv = format_csv({j, j});
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);
  std::string svg = format_svg({j});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_THROW(check_report(nlohmann::json::object(), "y"), Error);
}

// The chart of merged runs: round ticks, the raw-size line, the model named, labels only
// over bars, one colour per compressor whichever charts it is in; CSV names the model.
TEST(Report, ChartsAndCsvOfMergedRuns) {
  Dataset d = chunked_wav("merged", 3000);
  EvalOptions e;
  e.compressors = {"gzip", "flac"};
  const nlohmann::json a = report_json(d, evaluate(d, e), {{"bit_depth", 8}}, "my-model", 1);
  e.compressors = {"flac"};
  const nlohmann::json b = report_json(d, evaluate(d, e), {{"bit_depth", 16}}, "my-model", 1);
  const std::string svg = format_svg({a, b});
  EXPECT_NE(svg.find("model: my-model"), std::string::npos);
  EXPECT_NE(svg.find("raw size"), std::string::npos);
  // Tick labels are round: 0%, 20%, ... never 31%.
  size_t ticks = 0;
  const std::string tick = "<text x=\"5\" y=\"";
  for (size_t at = svg.find(tick); at != std::string::npos; at = svg.find(tick, at + 1), ++ticks) {
    const size_t label = svg.find('>', at) + 1;
    EXPECT_EQ(std::fmod(std::stod(svg.substr(label)), 5.0), 0.0) << svg.substr(label, 8);
  }
  EXPECT_GE(ticks, 3u);
  // gzip is in the 8-bit group only: one label, not one over the empty 16-bit slot.
  size_t gzip_labels = 0;
  for (size_t at = svg.find(">gzip</text>"); at != std::string::npos; at = svg.find(">gzip</text>", at + 1))
    ++gzip_labels;
  EXPECT_EQ(gzip_labels, 1u);
  // flac has the same colour in both groups and in a chart of its own.
  auto flac_fill = [](const std::string& chart) {
    const size_t at = chart.rfind("fill=\"hsl(", chart.find("<title>flac real"));
    return chart.substr(at, chart.find(')', at) - at);
  };
  EXPECT_EQ(flac_fill(svg), flac_fill(format_svg({b})));
  const std::string csv = format_csv({a, b});
  EXPECT_EQ(csv.rfind("bit_depth,model,compressor,", 0), 0u);
  EXPECT_NE(csv.find("\n8,my-model,gzip,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\n16,my-model,flac,"), std::string::npos) << csv;
}

TEST(Report, BuiltinModelRowSaysCharTokens) {
  Dataset d = chunked_wav("builtin", 1500);
  auto model = load_model("builtin:order2");
  EvalOptions e;
  e.compressors = {"lm"};
  e.model = model.get();
  const auto results = evaluate(d, e);
  EXPECT_NE(results[0].settings.find("char tokens"), std::string::npos) << results[0].settings;
}

}  // namespace
}  // namespace lmac
