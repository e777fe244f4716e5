// The Llama-driven codec end to end with the bundled model: exact round trips, output
// independent of threads and batch, damaged chunks, wrong models, context limits.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "gguf_writer.hpp"
#include "lmac/codec/file_codec.hpp"
#include "lmac/lm/backend.hpp"
#include "lmac/lm/llama_model.hpp"
#include "lmac/models/model_registry.hpp"
#include "test_support.hpp"

namespace lmac {
namespace {

const std::string kBundledModel = std::string(LMAC_SOURCE_DIR) + "/models/tinyllama-text-15m-q8_0.gguf";

const CodecModel& bundled() {
  static std::unique_ptr<CodecModel> m = load_model(kBundledModel);
  return *m;
}

Bytes speech_like(const PcmFormat& f, size_t frames) { return test::make_pcm(f, frames, test::Content::SineNoise, 3); }

// 16-bit noise is beyond the bundled model: its chunks are stored, so the stream is the
// samples plus the container's fixed bytes, and still decodes byte for byte.
TEST(LmCodec, IncompressibleChunksAreStoredNotExpanded) {
  PcmFormat f;
  f.bits = 16;
  f.channels = 2;
  f.kind = SampleKind::Signed;
  const Bytes wav = test::make_wav(f, test::make_pcm(f, 300, test::Content::WhiteNoise, 8));
  CompressOptions o;
  o.chunk_bytes = 400;
  o.codec.threads = 2;
  const Bytes packed = compress_audio(bundled(), wav, o);
  const ParsedStream p = parse_lmac(packed);
  const size_t chunks = p.stream.chunks.size();
  size_t stored = 0;
  for (const ChunkRecord& r : p.stream.chunks) stored += r.stored;
  EXPECT_EQ(stored, chunks);
  // docs/FORMAT.md's bound: the samples, the stream header (which holds the WAV's header
  // and trailer bytes), 9 bytes a chunk and 12; the header is the 14-byte preamble, the
  // fields (about 30 bytes here) and the model's name.
  const size_t name = p.stream.header.model_name.size();
  EXPECT_LE(packed.size(), wav.size() + 9 * chunks + 12 + 14 + 32 + name);
  EXPECT_EQ(decompress_audio(bundled(), p, o.codec, false).file, wav);
  o.codec.store_incompressible = false;  // --model-only: the model codes every chunk
  const Bytes model_only = compress_audio(bundled(), wav, o);
  EXPECT_GT(model_only.size(), packed.size() + wav.size() / 4);
  EXPECT_EQ(decompress_audio(bundled(), parse_lmac(model_only), o.codec, false).file, wav);
}

TEST(LmCodec, RoundTripsAtEveryDepthChannelsMappingAndTokenization) {
  for (int bits : {8, 16, 24, 32})
    for (int ch : {1, 2})
      for (Mapping m : {Mapping::Shift, Mapping::Mask})
        for (TokenMode mode : {TokenMode::Subword, TokenMode::Char}) {
          PcmFormat f;
          f.bits = static_cast<uint16_t>(bits);
          f.channels = static_cast<uint16_t>(ch);
          f.kind = bits == 8 ? SampleKind::Unsigned : SampleKind::Signed;
          Bytes wav = test::make_wav(f, speech_like(f, 40));
          CompressOptions o;
          o.serial.mapping = m;
          o.chunk_bytes = static_cast<uint32_t>(f.frame_bytes() * 17);
          o.codec.tokenization = mode;
          o.codec.threads = 2;
          Bytes packed = compress_audio(bundled(), wav, o);
          ParsedStream p = parse_lmac(packed);
          for (const auto& c : p.stream.chunks)
            if (mode == TokenMode::Char) {
              EXPECT_EQ(c.mode, TokenMode::Char);
            }
          EXPECT_EQ(decompress_audio(bundled(), p, o.codec, false).file, wav)
              << fmt::format("{} bit, {} ch, {}, {}", bits, ch, m == Mapping::Shift ? "shift" : "mask",
                             mode == TokenMode::Char ? "char" : "subword");
        }
}

// A small vocabulary's tokenizer can spend more tokens than characters (its lone
// word-start token): such chunks are coded as characters, never as a count the decoder
// refuses.
TEST(LmCodec, SubwordNeverCodesMoreTokensThanCharacters) {
  const std::string path = test::temp_dir() + "/small-vocab.gguf";
  test::write_bytes(path, test::make_random_llama(test::golden_shape(GgmlType::Q6_K)));
  const auto model = load_model(path);
  PcmFormat f;
  f.bits = 8;
  f.kind = SampleKind::Unsigned;
  const Bytes wav = test::make_wav(f, speech_like(f, 300));
  CompressOptions o;
  o.chunk_bytes = 100;
  o.codec.store_incompressible = false;
  o.codec.threads = 2;
  const ParsedStream p = parse_lmac(compress_audio(*model, wav, o));
  for (const ChunkRecord& c : p.stream.chunks) EXPECT_LE(c.token_count, o.chunk_bytes);
  EXPECT_EQ(decompress_audio(*model, p, o.codec, false).file, wav);
}

TEST(LmCodec, SameBytesForAnyThreadsAndBatchAndDecodesWithAny) {
  PcmFormat f;
  f.bits = 8;
  f.kind = SampleKind::Unsigned;
  Bytes wav = test::make_wav(f, speech_like(f, 700));
  Bytes first;
  for (auto [threads, batch] : std::vector<std::pair<int, int>>{{1, 1}, {2, 16}, {1, 16}, {2, 1}, {3, 5}}) {
    CompressOptions o;
    o.chunk_bytes = 96;
    o.codec.threads = threads;
    o.codec.batch = batch;
    Bytes packed = compress_audio(bundled(), wav, o);
    if (first.empty()) first = packed;
    ASSERT_EQ(packed, first) << threads << " threads, batch " << batch;
    CodecOptions d;
    d.threads = 3 - threads % 2;
    d.batch = 17 - batch;
    EXPECT_EQ(decompress_audio(bundled(), parse_lmac(packed), d, false).file, wav);
  }
}

// On the CPU the bundled model's chunks run in groups per thread (see Parallel.*).
TEST(LmCodec, BundledModelRunsOnePredictorPerThreadOnTheCpu) { EXPECT_TRUE(bundled().parallel_predictors()); }

TEST(LmCodec, ScalarAndSimdKernelsGiveIdenticalStreams) {
  PcmFormat f;
  f.bits = 16;
  Bytes wav = test::make_wav(f, speech_like(f, 48));
  CompressOptions o;
  o.chunk_bytes = 64;
  o.codec.tokenization = TokenMode::Char;  // 128 output rows keep the scalar run short
  Bytes best = compress_audio(bundled(), wav, o);
  set_cpu_simd_level(1);
  Bytes avx2 = compress_audio(bundled(), wav, o);
  set_cpu_simd_level(0);
  Bytes scalar = compress_audio(bundled(), wav, o);
  Bytes restored = decompress_audio(bundled(), parse_lmac(best), {}, false).file;
  set_cpu_simd_level(2);
  EXPECT_EQ(best, avx2);
  EXPECT_EQ(best, scalar);
  EXPECT_EQ(restored, wav);
}

TEST(LmCodec, DamagedChunksAreNamedAndTheRestDecodes) {
  PcmFormat f;
  f.bits = 8;
  f.kind = SampleKind::Unsigned;
  Bytes wav = test::make_wav(f, speech_like(f, 300));
  CompressOptions o;
  o.chunk_bytes = 100;
  Bytes packed = compress_audio(bundled(), wav, o);
  // The last byte of chunk 2's record hash: damage that chunk only.
  ParsedStream p = parse_lmac(packed);
  size_t end_of_chunk2 = packed.size() - 20;
  end_of_chunk2 -= 0;  // chunk 2 is the last record: the footer follows it
  packed[end_of_chunk2 - 1] ^= 0xFF;
  ParsedStream q = parse_lmac(packed);
  ASSERT_EQ(q.damaged, std::vector<size_t>{2});
  try {
    decompress_audio(bundled(), q, {}, false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("chunk 2"), std::string::npos) << e.what();
  }
  DecompressResult r = decompress_audio(bundled(), q, {}, true);
  EXPECT_EQ(r.bad_chunks, std::vector<size_t>{2});
  const size_t header = wav.size() - 300;
  EXPECT_TRUE(std::equal(wav.begin(), wav.begin() + static_cast<ptrdiff_t>(header + 200), r.file.begin()));
}

TEST(LmCodec, WrongModelAndOverlongChunksAreRefused) {
  PcmFormat f;
  Bytes wav = test::make_wav(f, speech_like(f, 100));
  Bytes packed = compress_audio(bundled(), wav, {});
  auto builtin = make_builtin_order2();
  try {
    decompress_audio(*builtin, parse_lmac(packed), {}, false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tinyllama-text-15m"), std::string::npos) << e.what();
  }
  Bytes big = test::make_wav(f, speech_like(f, 3000));
  CompressOptions o;
  o.chunk_bytes = 4096;
  o.codec.tokenization = TokenMode::Char;
  try {
    compress_audio(bundled(), big, o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("use a chunk size of at most 2046 bytes"), std::string::npos) << e.what();
  }
  EXPECT_EQ(default_chunk_bytes(bundled(), f), 2046u);
}

}  // namespace
}  // namespace lmac
