// The audio model and its mix with a language model (docs/ARITHMETIC.md, "Mixing
// codec"): the integer probability tools, lossless round trips over the format matrix,
// determinism, refusals, and what it gains over FLAC on the bundled recording.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <deque>
#include <filesystem>
#include <functional>
#include <random>
#include <span>
#include <tuple>
#include <utility>

#include "lmac/baselines/compressor.hpp"
#include "lmac/codec/file_codec.hpp"
#include "lmac/common/error.hpp"
#include "lmac/common/simd_level.hpp"
#include "lmac/container/lmac_format.hpp"
#include "lmac/eval/evaluate.hpp"
#include "lmac/mixing/audio_chunk_coder.hpp"
#include "lmac/mixing/least_squares.hpp"
#include "lmac/mixing/logistic.hpp"
#include "lmac/mixing/nlms.hpp"
#include "lmac/mixing/sample_predictor.hpp"
#include "lmac/mixing/value_distribution.hpp"
#include "lmac/models/model_registry.hpp"
#include "test_support.hpp"

namespace lmac {
namespace {

using test::Content;

const std::string kBundled = std::string(LMAC_SOURCE_DIR) + "/models/tinyllama-text-15m-q8_0.gguf";

TEST(Mixing, SquashAndStretchAreMonotoneInverses) {
  int32_t prev = 0;
  for (int32_t t = -mixing::kLogitLimit; t <= mixing::kLogitLimit; ++t) {
    const int32_t p = mixing::squash(t);
    ASSERT_GE(p, prev);
    ASSERT_GE(p, 1);
    ASSERT_LT(p, mixing::kProbOne);
    prev = p;
  }
  EXPECT_EQ(mixing::squash(0), 32768);
  for (int32_t p : {1, 100, 20000, 32768, 50000, 65535})
    EXPECT_NEAR(mixing::squash(mixing::stretch(p)), p, (p / 40.0) + 2.0);
  EXPECT_NEAR(mixing::stretch(32768), 0, 1);
}

TEST(Mixing, BitProbabilitiesChainToTheValueDistribution) {
  // The product of the bit probabilities of a value is its probability mass.
  const int64_t mu16 = (int64_t{16} * 37) + 5, mae16 = int64_t{16} * 9;
  double total = 0;
  for (int64_t v = -128; v < 128; ++v) {
    mixing::BitNarrowing walk(-128, 8, mu16, mae16);
    double p = 1;
    const uint64_t u = static_cast<uint64_t>(v + 128);
    for (int b = 7; b >= 0; --b) {
      const int bit = (u >> b) & 1;
      const double p1 = walk.p1() / 65536.0;
      p *= bit ? p1 : 1 - p1;
      walk.take(bit);
    }
    const double mass = double(mixing::value_cdf(v + 1, mu16, mae16) - mixing::value_cdf(v, mu16, mae16)) /
                        double(mixing::value_cdf(128, mu16, mae16) - mixing::value_cdf(-128, mu16, mae16));
    EXPECT_NEAR(p, mass, 1e-3) << v;
    total += p;
  }
  EXPECT_NEAR(total, 1.0, 1e-2);
  // The mode sits at the prediction, and the mean absolute error is about mae16 / 16.
  EXPECT_GT(mixing::value_cdf(38, mu16, mae16) - mixing::value_cdf(37, mu16, mae16),
            mixing::value_cdf(50, mu16, mae16) - mixing::value_cdf(49, mu16, mae16));
}

void round_trip(const CodecModel& model, const Bytes& file, const CompressOptions& o, const std::string& what,
                size_t* packed_size = nullptr) {
  Bytes packed = compress_audio(model, file, o);
  DecompressResult r = decompress_audio(model, parse_lmac(packed), o.codec, false);
  ASSERT_EQ(r.file, file) << what;
  if (packed_size) *packed_size = packed.size();
}

TEST(Mixing, AudioModelRoundTripsEveryWidthKindLayoutAndChannelCount) {
  auto model = load_model("audio");
  int cases = 0;
  for (int bits : {8, 16, 24, 32})
    for (SampleKind kind : {SampleKind::Unsigned, SampleKind::Signed, SampleKind::Float})
      for (int ch : {1, 2, 3})
        for (Layout layout : {Layout::Interleaved, Layout::Blocked, Layout::Planar})
          for (Content c : {Content::Silence, Content::Square, Content::SineNoise, Content::WhiteNoise}) {
            if (kind == SampleKind::Unsigned && bits != 8) continue;
            // Float once per channel count and layout, with NaNs, infinities and subnormals.
            if (kind == SampleKind::Float && (bits != 32 || c != Content::WhiteNoise)) continue;
            PcmFormat f;
            f.bits = static_cast<uint16_t>(bits);
            f.channels = static_cast<uint16_t>(ch);
            f.kind = kind;
            Bytes data = test::make_pcm(f, 700, kind == SampleKind::Float ? Content::FloatSpecials : c,
                                        static_cast<uint32_t>(cases));
            CompressOptions o;
            o.serial.layout = layout;
            o.serial.block_n = 3;
            o.chunk_bytes = static_cast<uint32_t>(f.frame_bytes() * (cases % 3 == 0 ? 1 : 301));
            o.codec.threads = 1 + cases % 2;
            round_trip(*model, test::make_wav(f, data), o,
                       fmt::format("{}-bit kind {} {}ch layout {} {}", bits, int(kind), ch, int(layout),
                                   test::content_name(c)));
            ++cases;
          }
  EXPECT_GT(cases, 80);
}

TEST(Mixing, MixedRoundTripsWithTheBundledModelAndIsDeterministic) {
  auto mix = load_model("mix:" + kBundled);
  PcmFormat f;
  f.bits = 16;
  f.channels = 2;
  Bytes wav = test::make_wav(f, test::make_pcm(f, 300, Content::SineNoise));
  CompressOptions o;
  o.chunk_bytes = 400;
  Bytes first;
  for (int threads : {1, 2})
    for (int batch : {1, 16}) {
      o.codec.threads = threads;
      o.codec.batch = batch;
      Bytes packed = compress_audio(*mix, wav, o);
      if (first.empty()) first = packed;
      EXPECT_EQ(packed, first) << threads << " threads, batch " << batch;
      EXPECT_EQ(decompress_audio(*mix, parse_lmac(packed), o.codec, false).file, wav);
    }
  // The switch keeps each mixed chunk within a few bits per context of the audio model
  // alone, and where mixing is not smaller the encoder codes the chunk by the audio
  // model alone (no language model needed to decode it): never more than `audio`.
  auto records = [](const Bytes& stream) {
    uint64_t n = 0;
    size_t alone = 0;
    for (const ChunkRecord& r : parse_lmac(stream).stream.chunks)
      n += record_bytes(r), alone += r.mode == TokenMode::Audio;
    return std::pair(n, alone);
  };
  const uint64_t audio = records(compress_audio(*load_model("audio"), wav, o)).first;
  const auto [mixed, alone] = records(first);
  EXPECT_LE(mixed, audio);
  EXPECT_GT(alone, 0u);                  // 16-bit noise: the language model helps few chunks
  o.codec.store_incompressible = false;  // --model-only: every chunk mixed
  const Bytes every = compress_audio(*mix, wav, o);
  EXPECT_EQ(records(every).second, 0u);
  EXPECT_LE(records(every).first, audio + 4 * (wav.size() / o.chunk_bytes + 1)) << audio;
  EXPECT_EQ(decompress_audio(*mix, parse_lmac(every), o.codec, false).file, wav);
}

// A chunk stays mixed only where mixing saves the margin over the audio model alone
// (decoding it runs the language model over every byte): each chunk is either the
// margin-free mixed record, kept only where it is that much smaller, or the audio-alone
// record; a margin of 100 % mixes nothing, and none keeps whatever the language model
// makes smaller (8-bit square waves: it helps).
TEST(Mixing, AMixedChunkMustSaveItsMarginOverTheAudioModelAlone) {
  auto mix = load_model("mix:" + kBundled);
  PcmFormat f;
  f.bits = 8;
  f.kind = SampleKind::Unsigned;
  const Bytes wav = test::make_wav(f, test::make_pcm(f, 6000, Content::Square));
  CompressOptions o;
  o.chunk_bytes = 2046;
  auto chunks = [&](uint32_t per_mille) {
    o.codec.mixed_min_saving_per_mille = per_mille;
    const Bytes packed = compress_audio(*mix, wav, o);
    EXPECT_EQ(decompress_audio(*mix, parse_lmac(packed), o.codec, false).file, wav) << per_mille;
    return parse_lmac(packed).stream.chunks;
  };
  const auto any = chunks(0), none = chunks(1000);
  ASSERT_EQ(any.size(), none.size());
  size_t mixed_any = 0;
  for (size_t i = 0; i < any.size(); ++i) {
    EXPECT_EQ(none[i].mode, TokenMode::Audio) << i;
    mixed_any += any[i].mode == TokenMode::Mixed;
  }
  EXPECT_GT(mixed_any, 0u);
  for (uint32_t per_mille : {10u, 100u}) {
    const auto some = chunks(per_mille);
    for (size_t i = 0; i < some.size(); ++i) {
      if (some[i].mode == TokenMode::Audio) {
        EXPECT_EQ(some[i].tokens, none[i].tokens) << per_mille << " " << i;
        continue;
      }
      EXPECT_EQ(some[i].tokens, any[i].tokens) << per_mille << " " << i;
      EXPECT_LT(uint64_t{any[i].tokens.size()} * 1000, uint64_t{none[i].tokens.size()} * (1000 - per_mille));
    }
  }
}

// A language model that counts the positions it is fed.
class CountingModel final : public CodecModel {
 public:
  explicit CountingModel(std::unique_ptr<CodecModel> m) : m_(std::move(m)) {}
  std::string name() const override { return m_->name(); }
  uint64_t fingerprint() const override { return m_->fingerprint(); }
  bool has_subword() const override { return false; }
  std::vector<int32_t> tokenize(std::string_view t) const override { return m_->tokenize(t); }
  std::string detokenize(std::span<const int32_t> t) const override { return m_->detokenize(t); }
  size_t max_tokens() const override { return m_->max_tokens(); }
  std::unique_ptr<Predictor> predictor(TokenMode mode, int threads) const override {
    return std::make_unique<Counting>(m_->predictor(mode, threads), fed_);
  }
  bool parallel_predictors() const override { return m_->parallel_predictors(); }
  size_t fed() const { return fed_; }
  void reset() { fed_ = 0; }

 private:
  class Counting final : public Predictor {
   public:
    Counting(std::unique_ptr<Predictor> p, std::atomic<size_t>& fed) : p_(std::move(p)), fed_(fed) {}
    uint32_t alphabet_size() const override { return p_->alphabet_size(); }
    void feed(std::span<const Feed> feeds, std::span<FreqTable> out) override {
      fed_ += feeds.size();
      p_->feed(feeds, out);
    }
    void release(uint32_t seq) override { p_->release(seq); }

   private:
    std::unique_ptr<Predictor> p_;
    std::atomic<size_t>& fed_;
  };
  std::unique_ptr<CodecModel> m_;
  mutable std::atomic<size_t> fed_ = 0;
};

// The encoder stops running the language model on a chunk once its mixed coding is no
// smaller than the audio model's alone at a checkpoint (AudioChunkEncoder::pays): on
// 16-bit noise, where the language model cannot help, it reads a fraction of the chunk;
// on a sequence it predicts well it reads every byte, and the chunk stays mixed.
TEST(Mixing, TheEncoderStopsMixingWhereTheLanguageModelDoesNotPay) {
  auto counting = std::make_shared<CountingModel>(make_builtin_order2());
  auto mix = make_mixed_model(counting);
  CompressOptions o;
  o.chunk_bytes = 8192;
  auto chunks = [](const Bytes& stream) {
    std::vector<TokenMode> modes;
    for (const ChunkRecord& r : parse_lmac(stream).stream.chunks) modes.push_back(r.mode);
    return modes;
  };
  PcmFormat f;  // 16-bit mono noise: 4 chunks
  const Bytes noise = test::make_wav(f, test::make_pcm(f, 16384, Content::SineNoise));
  const Bytes probed = compress_audio(*mix, noise, o);
  const size_t probed_fed = counting->fed();
  EXPECT_EQ(chunks(probed), std::vector<TokenMode>(4, TokenMode::Audio));
  EXPECT_EQ(decompress_audio(*mix, parse_lmac(probed), o.codec, false).file, noise);
  counting->reset();
  o.codec.store_incompressible = false;  // --model-only: every chunk mixed, every byte read
  const Bytes every = compress_audio(*mix, noise, o);
  EXPECT_EQ(counting->fed(), 4 * 8192u);
  EXPECT_LT(probed_fed * 8, counting->fed()) << probed_fed;
  auto coded = [](const Bytes& stream) {
    uint64_t n = 0;
    for (const ChunkRecord& r : parse_lmac(stream).stream.chunks) n += record_bytes(r);
    return n;
  };
  EXPECT_EQ(coded(probed), coded(compress_audio(*load_model("audio"), noise, o)));
  // Unsigned 8-bit, a random sequence of four levels with period 5: a context model
  // learns it at once, a linear predictor does not.
  o.codec.store_incompressible = true;
  f.bits = 8;
  f.channels = 1;
  f.kind = SampleKind::Unsigned;
  Bytes pattern;
  std::mt19937 rng(7);
  std::array<uint8_t, 5> period{};
  for (uint8_t& v : period) v = static_cast<uint8_t>(64 * (rng() % 4) + 32);
  for (size_t i = 0; i < 8192; ++i) pattern.push_back(period[i % period.size()]);
  const Bytes wav = test::make_wav(f, pattern);
  counting->reset();
  const Bytes mixed = compress_audio(*mix, wav, o);
  EXPECT_EQ(chunks(mixed), std::vector<TokenMode>(1, TokenMode::Mixed));
  EXPECT_EQ(counting->fed(), 8192u);
  EXPECT_EQ(decompress_audio(*mix, parse_lmac(mixed), o.codec, false).file, wav);
}

TEST(Mixing, MixedStreamsNeedTheirLanguageModelAndAudioStreamsTheAudioModel) {
  PcmFormat f;
  Bytes wav = test::make_wav(f, test::make_pcm(f, 500, Content::SineNoise));
  CompressOptions o;
  auto mix = load_model("mix:builtin:order2");
  Bytes packed = compress_audio(*mix, wav, o);
  EXPECT_EQ(parse_lmac(packed).stream.header.model_name, "mix:builtin:order2");
  auto other = load_model("mix:" + kBundled);
  EXPECT_THROW(decompress_audio(*other, parse_lmac(packed), o.codec, false), Error);
  EXPECT_THROW(decompress_audio(*load_model("audio"), parse_lmac(packed), o.codec, false), Error);
  EXPECT_THROW(decompress_audio(*load_model("builtin:order2"), parse_lmac(packed), o.codec, false), Error);
  Bytes audio = compress_audio(*load_model("audio"), wav, o);
  EXPECT_THROW(decompress_audio(*mix, parse_lmac(audio), o.codec, false), Error);
  EXPECT_THROW(load_model("mix:mix:builtin:order2"), Error);
}

TEST(Mixing, ADamagedRecordCostsOnlyItsChunk) {
  PcmFormat f;
  f.channels = 2;
  Bytes wav = test::make_wav(f, test::make_pcm(f, 3000, Content::SineNoise));
  auto model = load_model("audio");
  CompressOptions o;
  o.chunk_bytes = 2000;
  Bytes packed = compress_audio(*model, wav, o);
  LmacStream s = parse_lmac(packed).stream;
  ASSERT_EQ(s.chunks.size(), 6u);
  ASSERT_EQ(s.chunks[2].mode, TokenMode::Audio);
  // Change a coded byte and re-seal the record and stream hashes: only the chunk
  // checksum can notice.
  s.chunks[2].tokens[s.chunks[2].tokens.size() / 2] ^= 0x10;
  DecompressResult r = decompress_audio(*model, parse_lmac(write_lmac(s), true), o.codec, true);
  ASSERT_EQ(r.bad_chunks, std::vector<size_t>{2});
  EXPECT_EQ(r.file.size(), wav.size());
  EXPECT_THROW(decompress_audio(*model, parse_lmac(write_lmac(s)), o.codec, false), Error);
  // Cut short: refused, not read past its end.
  s.chunks[2].tokens.resize(3);
  EXPECT_THROW(decompress_audio(*model, parse_lmac(write_lmac(s)), o.codec, false), Error);
}

TEST(Mixing, RefusesSerializationsItCannotReadFromTheTop) {
  PcmFormat f;
  Bytes wav = test::make_wav(f, test::make_pcm(f, 100, Content::SineNoise));
  CompressOptions o;
  o.serial.mapping = Mapping::Mask;
  try {
    compress_audio(*load_model("audio"), wav, o);
    FAIL() << "mask mapping accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--mapping shift"), std::string::npos) << e.what();
  }
  o.serial.mapping = Mapping::Shift;
  o.serial.byte_order = ByteOrder::FileOrder;  // little-endian WAV: least significant byte first
  EXPECT_THROW(compress_audio(*load_model("audio"), wav, o), Error);
}

// The bytes of `data` (PCM of format f) coded in 2048-byte chunks by the audio model,
// round-tripped, and by FLAC -8, each chunk on its own.
std::pair<size_t, size_t> chunked_audio_and_flac(const PcmFormat& f, const Bytes& data, const std::string& what) {
  auto model = load_model("audio");
  CompressOptions o;
  o.chunk_bytes = 2048;
  size_t ours = 0;
  round_trip(*model, test::make_wav(f, data), o, what, &ours);
  auto flac = make_compressor("flac");
  size_t theirs = 0;
  for (size_t off = 0; off < data.size(); off += 2048)
    theirs += flac->compress(ByteSpan(data).subspan(off, std::min<size_t>(2048, data.size() - off)), f).size();
  return {ours, theirs};
}

TEST(Mixing, AudioModelBeatsChunkedFlacOnTheBundledRecording) {
  // A regression guard on the method, not a tuning target: the bundled voice recording
  // in 2048-byte chunks, each coded on its own by both.
  const AudioFile a =
      parse_audio(test::read_bytes(std::string(LMAC_SOURCE_DIR) + "/audio/Front_Center.wav"), std::nullopt);
  const auto [ours, theirs] = chunked_audio_and_flac(a.format, a.data, "bundled recording");
  EXPECT_LT(ours, theirs * 95 / 100) << ours << " vs FLAC " << theirs;
}

// The same recording reduced to 8 bits (its high bytes, unsigned), where most of a
// sample is the part a predictor cannot see: revision 7's split-position mixer and
// refiner and its context bias brought the audio model from 78.6 % of chunked FLAC's
// bytes to 73.2 %; choosing the adaptive stages by coding at 8 bits to 71.7 %; revision
// 11's second opinion (the prediction before the sign-sign stage and the bias, with its
// own spread, mixed in) to 65.0 %.
TEST(Mixing, AudioModelBeatsChunkedFlacOnTheBundledRecordingAt8Bits) {
  const AudioFile a =
      parse_audio(test::read_bytes(std::string(LMAC_SOURCE_DIR) + "/audio/Front_Center.wav"), std::nullopt);
  ASSERT_EQ(a.format.bits, 16);
  PcmFormat f = a.format;
  f.bits = 8;
  f.kind = SampleKind::Unsigned;
  Bytes data;
  for (size_t i = 1; i < a.data.size(); i += 2) data.push_back(static_cast<uint8_t>(a.data[i] ^ 0x80));
  const auto [ours, theirs] = chunked_audio_and_flac(f, data, "bundled recording at 8 bits");
  EXPECT_LT(ours, theirs * 68 / 100) << ours << " vs FLAC " << theirs;
}

// --exhaustive: at 16 bits the encoder codes each chunk with every adaptive stage, as it
// does at 8 bits, instead of estimating them; smaller (45,431 → 45,377 bytes here when
// measured), the same decoder. At 8 bits it changes nothing.
TEST(Mixing, ExhaustiveSearchCodesWiderSamplesSmaller) {
  auto audio = load_model("audio");
  const Bytes wav = test::read_bytes(std::string(LMAC_SOURCE_DIR) + "/audio/Front_Center.wav");
  CompressOptions o;
  const Bytes plain = compress_audio(*audio, wav, o);
  o.codec.exhaustive = true;
  const Bytes searched = compress_audio(*audio, wav, o);
  EXPECT_LT(searched.size(), plain.size());
  EXPECT_EQ(decompress_audio(*audio, parse_lmac(searched), o.codec, false).file, wav);
  PcmFormat f;
  f.bits = 8;
  f.kind = SampleKind::Unsigned;
  const Bytes wav8 = test::make_wav(f, test::make_pcm(f, 5000, Content::SineNoise));
  o.codec.exhaustive = false;
  const Bytes plain8 = compress_audio(*audio, wav8, o);
  o.codec.exhaustive = true;
  EXPECT_EQ(compress_audio(*audio, wav8, o), plain8);
}

// encode_audio_alone is what an encoder given no language model makes, and it decodes.
TEST(Mixing, AudioAloneIsTheEncoderWithoutALanguageModel) {
  const AudioFile a =
      parse_audio(test::read_bytes(std::string(LMAC_SOURCE_DIR) + "/audio/Front_Center.wav"), std::nullopt);
  for (size_t bytes : {size_t{2}, size_t{600}, size_t{8192}}) {
    const std::span<const uint8_t> chunk(a.data.data() + 20000, bytes);
    Bytes big_endian;  // the serialized bytes: most significant first, offset binary
    for (size_t i = 0; i < bytes; i += 2) {
      big_endian.push_back(static_cast<uint8_t>(chunk[i + 1] ^ 0x80));
      big_endian.push_back(chunk[i]);
    }
    mixing::ChunkShape shape;
    shape.channel.assign(bytes / 2, 0);
    mixing::AudioChunkEncoder enc(shape, big_endian);
    while (!enc.done()) enc.encode_next(nullptr);
    const Bytes coded = enc.finish();
    EXPECT_EQ(coded, mixing::encode_audio_alone(shape, big_endian)) << bytes;
    EXPECT_EQ(coded, enc.alone()) << bytes;
    mixing::AudioChunkDecoder dec(shape, coded);
    Bytes back;
    while (back.size() < big_endian.size()) back.push_back(dec.decode_next(nullptr));
    dec.check_end();
    EXPECT_EQ(back, big_endian) << bytes;
  }
}

// The encoder tries its parameter choices side by side on as many threads as it is
// given: the same bytes whatever the count, for estimated and coded searches, mono and
// stereo (a later channel is chosen with channel 0 beside it).
TEST(Mixing, TheEncodersTrialsGiveTheSameBytesOnAnyNumberOfThreads) {
  const AudioFile a =
      parse_audio(test::read_bytes(std::string(LMAC_SOURCE_DIR) + "/audio/Front_Center.wav"), std::nullopt);
  const size_t frames = 8200;  // past kLongReachMinSamples: the long reach is tried as well
  for (auto [bits, channels, search] : {std::tuple{8, 1, mixing::StageSearch::Default},
                                        {8, 2, mixing::StageSearch::Default},
                                        {16, 1, mixing::StageSearch::Exhaustive},
                                        {16, 2, mixing::StageSearch::Default}}) {
    mixing::ChunkShape shape;
    shape.bits = bits;
    shape.channels = channels;
    Bytes serialized;  // most significant byte first, offset binary
    for (size_t t = 0; t < frames; ++t)
      for (int c = 0; c < channels; ++c) {
        const size_t at = 2 * (20000 + t + static_cast<size_t>(c) * 30011);
        serialized.push_back(static_cast<uint8_t>(a.data[at + 1] ^ 0x80));
        if (bits == 16) serialized.push_back(a.data[at]);
        shape.channel.push_back(static_cast<uint8_t>(c));
      }
    const Bytes one = mixing::encode_audio_alone(shape, serialized, search, 1);
    EXPECT_EQ(mixing::encode_audio_alone(shape, serialized, search, 3), one) << bits << " bits, " << channels;
    EXPECT_EQ(mixing::AudioChunkEncoder(shape, serialized, search, 0, 2).alone(), one) << bits << " bits, " << channels;
  }
}

// Signed 16-bit mono at `rate`, and a sample appended to its little-endian bytes.
PcmFormat mono16(int rate) {
  PcmFormat f;
  f.bits = 16;
  f.channels = 1;
  f.rate = rate;
  f.kind = SampleKind::Signed;
  return f;
}

void put16(Bytes& data, int16_t s) {
  data.push_back(static_cast<uint8_t>(s));
  data.push_back(static_cast<uint8_t>(static_cast<uint16_t>(s) >> 8));
}

// A chord of three steady tones with a little noise, 16-bit: spectral peaks far above the
// noise floor, where the Welch window's sidelobes smear the autocorrelation; the encoder
// tries more tapered windows (84.7 % of FLAC's bytes; 87.2 % with the Welch window
// alone). One-second chord, 2048-byte chunks, each coded on its own by both.
TEST(Mixing, AudioModelPredictsTonalSoundAsWellAsFlacWindows) {
  const PcmFormat f = mono16(44100);
  Bytes data;
  uint32_t lcg = 1;
  for (int t = 0; t < 44100; ++t) {
    double v = 0;
    for (double hz : {220.0, 277.18, 329.63}) v += 6000.0 * std::sin(2 * M_PI * hz * t / 44100.0);
    lcg = lcg * 1664525u + 1013904223u;
    put16(data, static_cast<int16_t>(std::lround(v) + static_cast<int>(lcg >> 30) - 1));  // noise in -1..2
  }
  const auto [ours, theirs] = chunked_audio_and_flac(f, data, "chord");
  EXPECT_LT(ours, theirs * 86 / 100) << ours << " vs FLAC " << theirs;  // Welch window alone: 87.2 %
}

// 32768 samples (16 kHz) of a two-pole resonance at hz(t) Hz with pole radius r, driven
// by drive(t) and by uniform noise of 2^(32 - noise_shift) levels from an LCG.
std::vector<int64_t> resonance(uint32_t seed, int noise_shift, const std::function<double(int)>& hz, double r,
                               const std::function<double(int)>& drive) {
  std::vector<int64_t> samples;
  uint32_t lcg = seed;
  double y1 = 0, y2 = 0;
  for (int t = 0; t < 32768; ++t) {
    const double a1 = 2 * r * std::cos(2 * M_PI * hz(t) / 16000.0), a2 = -r * r;
    lcg = lcg * 1664525u + 1013904223u;
    const double noise = static_cast<double>(lcg >> noise_shift) - static_cast<double>(1u << (31 - noise_shift));
    const double y = a1 * y1 + a2 * y2 + drive(t) + noise;
    y2 = y1, y1 = y;
    samples.push_back(std::clamp(std::lround(y), -32768L, 32767L));
  }
  return samples;
}

// The samples as one 16 kHz mono chunk of the audio model (round trip checked byte for
// byte): its stream's bytes, and FLAC's for the whole file.
std::pair<size_t, size_t> one_chunk_and_flac(const std::vector<int64_t>& samples, const std::string& what) {
  Bytes data;
  for (int64_t s : samples) put16(data, static_cast<int16_t>(s));
  auto model = load_model("audio");
  CompressOptions o;
  o.chunk_bytes = static_cast<uint32_t>(data.size());
  size_t ours = 0;
  round_trip(*model, test::make_wav(mono16(16000), data), o, what, &ours);
  return {ours, make_compressor("flac")->compress(data, mono16(16000)).size()};
}

// Speech-like sound whose resonance moves every 1024 samples (16 kHz, 16-bit): one
// linear predictor for the whole chunk fits none of it well; the least-squares stage
// (revision 5) follows it. Coded as one chunk, against FLAC's 4096-sample blocks, which
// refit their predictor every block.
TEST(Mixing, AudioModelFollowsSoundThatChangesWithinAChunk) {
  const auto samples = resonance(
      7, 26, [](int t) { return 300.0 + 180.0 * ((t / 1024) % 9); }, 0.995, [](int) { return 0.0; });
  EXPECT_NE(mixing::choose_params(std::vector<std::vector<int64_t>>{samples}, 16)[0].adaptive, 0);
  const auto [ours, theirs] = one_chunk_and_flac(samples, "moving resonance");
  EXPECT_LT(ours, theirs * 98 / 100) << ours << " vs FLAC " << theirs;  // 96.6 %; without the stage 99.6 %
}

// A voice: a pulse every 157 samples (about 100 Hz at 16 kHz), through a resonance, with
// noise. The linear and least-squares stages reach back 32 samples, so each pulse is a
// surprise to them; the NLMS stage reaches back 256 and learns where the next one falls.
TEST(Mixing, AudioModelPredictsAPitchBeyondItsLinearOrder) {
  const auto samples = resonance(
      11, 27, [](int) { return 700.0; }, 0.97,
      [](int t) { return t % 157 == 0   ? 4000.0
                         : t % 157 == 1 ? -2500.0
                                        : 0.0; });
  EXPECT_GT(mixing::choose_params(std::vector<std::vector<int64_t>>{samples}, 16)[0].cascade, 0);
  const auto [ours, theirs] = one_chunk_and_flac(samples, "pulse train");
  EXPECT_LT(ours, theirs * 88 / 100) << ours << " vs FLAC " << theirs;  // 85.1 %; without the stage 90.6 %
}

// The sum of the predictor's absolute misses (in 1/16) over `samples` with parameters p.
int64_t predictor_misses(mixing::ChannelParams p, std::span<const int64_t> samples) {
  mixing::SamplePredictor predictor({std::move(p)}, samples.size(), 16);
  int64_t sum = 0;
  for (int64_t v : samples) {
    sum += std::abs(16 * v - predictor.predict(0).mu16);
    predictor.update(v);
  }
  return sum;
}

// The second opinion (revision 11) against docs/ARITHMETIC.md §6.3: base, the stages'
// prediction before the sign-sign stage and the bias, in 1/16, and its own mean absolute
// error, which follows |16 r| (r = v - base) as m16 follows the guess's error; at the
// first sample both are the guess's own.
TEST(Mixing, SecondOpinionIsBaseWithItsOwnSpread) {
  const auto samples = resonance(
      5, 24, [](int t) { return 300.0 + 40.0 * ((t / 512) % 5); }, 0.99, [](int) { return 0.0; });
  mixing::ChannelParams p = mixing::choose_params(std::vector<std::vector<int64_t>>{samples}, 16)[0];
  p.adaptive = 1, p.cascade = 2, p.context_bias = true;
  const int64_t start = mixing::initial_mae16(p.initial_scale);
  mixing::SamplePredictor predictor({p}, samples.size(), 16);
  int64_t m = start;
  bool differs = false;
  for (size_t t = 0; t < samples.size(); ++t) {
    const auto g = predictor.predict(0);
    predictor.update(samples[t]);
    const int64_t r = predictor.last_residual(0);
    ASSERT_EQ(g.base_mu16, 16 * (samples[t] - r)) << "sample " << t;
    if (t == 0) {
      EXPECT_EQ(g.base_mu16, g.mu16);
      EXPECT_EQ(g.base_mae16, g.mae16);
      continue;
    }
    ASSERT_EQ(g.base_mae16, m) << "sample " << t;
    m = std::max<int64_t>(8, m + ((std::abs(16 * r) - m) >> 4));
    differs = differs || g.base_mu16 != g.mu16;
  }
  EXPECT_TRUE(differs);  // the sign-sign stage and the bias move the guess away from base
}

// The bundled voice recording as one chunk: after the long NLMS stage, whose steps are
// small enough to hold a pitch period, what is left still changes faster than it
// follows; the short stages after it (revision 9) follow that. The encoder takes them,
// and the predictor then misses by less than with the long stage alone (5.0 % less
// when measured).
TEST(Mixing, ShortNlmsStagesFollowWhatTheLongOneLeavesInAVoice) {
  const AudioFile a =
      parse_audio(test::read_bytes(std::string(LMAC_SOURCE_DIR) + "/audio/Front_Center.wav"), std::nullopt);
  ASSERT_EQ(a.format.bits, 16);
  std::vector<int64_t> samples;
  for (size_t i = 0; i + 1 < a.data.size(); i += 2)
    samples.push_back(static_cast<int16_t>(a.data[i] | a.data[i + 1] << 8));
  const auto chosen = mixing::choose_params(std::vector<std::vector<int64_t>>{samples}, 16)[0];
  EXPECT_GT(chosen.cascade, 1);
  auto long_only = chosen;
  long_only.cascade = 1;
  const int64_t with_short = predictor_misses(chosen, samples), without = predictor_misses(long_only, samples);
  EXPECT_LT(with_short, without * 97 / 100) << with_short << " vs " << without;
}

// Pulses through a resonance (16 kHz) whose period jumps every 4096 samples, or whose
// pulses are loud and soft in turns: drive(t) for `resonance`.
double jumping_pitch(int t) {
  const int period = 120 + 23 * ((t / 4096) % 4);
  return t % period == 0 ? 4000.0 : t % period == 1 ? -2400.0 : 0.0;
}
double loud_and_soft(int t) {
  const double amp = (t / 4096) % 2 ? 300.0 : 4000.0;
  return t % 157 == 0 ? amp : t % 157 == 1 ? -0.6 * amp : 0.0;
}

// A voice whose pitch jumps: after each jump the NLMS stages predict the old pitch until
// they relearn it, and summed (revision 9) each such miss went into every prediction;
// weighted (revision 10), a stage that stops paying is turned down meanwhile. (On the
// speech tuning set, 16-bit whole files 55.65 -> 55.33 %.)
TEST(Mixing, WeightedNlmsStagesTurnDownAStageThatStopsPaying) {
  const auto samples = resonance(
      11, 27, [](int) { return 700.0; }, 0.97, jumping_pitch);
  for (int cascade : {1, 3}) {
    auto weighted = mixing::choose_params(std::vector<std::vector<int64_t>>{samples}, 16)[0];
    weighted.cascade = cascade;
    weighted.weighted_stages = true;
    weighted.long_reach = false;
    auto summed = weighted;
    summed.weighted_stages = false;
    const int64_t with = predictor_misses(weighted, samples), without = predictor_misses(summed, samples);
    EXPECT_LT(with, without * 95 / 100) << "cascade " << cascade << ": " << with << " vs " << without;
  }
}

// A low voice at 48 kHz: a pulse every 431 samples (111 Hz), beyond the 256 values the
// long NLMS stage holds, so each pulse surprises it; with the long reach (revision 11,
// 1024 values) it learns where the next one falls. The encoder takes it, the predictor
// misses less with it (7.0 % less when measured), and the chunk round-trips byte for byte.
TEST(Mixing, LongReachHoldsAPitchPeriodBeyond256Samples) {
  const auto samples = resonance(
      11, 27, [](int) { return 700.0 / 3; }, 0.99,
      [](int t) { return t % 431 == 0   ? 4000.0
                         : t % 431 == 1 ? -2500.0
                                        : 0.0; });
  const auto chosen = mixing::choose_params(std::vector<std::vector<int64_t>>{samples}, 16)[0];
  ASSERT_GT(chosen.cascade, 0);
  EXPECT_TRUE(chosen.long_reach);
  auto short_reach = chosen;
  short_reach.long_reach = false;
  const int64_t with = predictor_misses(chosen, samples), without = predictor_misses(short_reach, samples);
  EXPECT_LT(with, without * 95 / 100) << with << " vs " << without;
  const auto [ours, theirs] = one_chunk_and_flac(samples, "low voice");
  EXPECT_LT(ours, theirs);
}

// The weights learn from the error's sign, so where most errors are small noise between
// rare large pulses (and at 8 bits, where most residuals are 0) they shrink toward what
// the many small errors want and miss the pulses: there the summed cascade predicts
// better, and the encoder, which tries both, stores the flag that says so (the round
// trip checks that the decoder follows it).
TEST(Mixing, EncoderKeepsTheSummedCascadeWhereWeightsWouldLoseThePulses) {
  const auto samples = resonance(
      11, 27, [](int) { return 700.0; }, 0.97, loud_and_soft);
  const auto chosen = mixing::choose_params(std::vector<std::vector<int64_t>>{samples}, 16)[0];
  ASSERT_GT(chosen.cascade, 0);
  EXPECT_FALSE(chosen.weighted_stages);
  auto weighted = chosen;
  weighted.weighted_stages = true;
  EXPECT_LT(predictor_misses(chosen, samples), predictor_misses(weighted, samples));
  const auto [ours, theirs] = one_chunk_and_flac(samples, "loud and soft pulses");
  EXPECT_LT(ours, theirs);
}

// A stage weight against docs/ARITHMETIC.md §6.3 written out a second way: every
// weighted prediction's bits must agree (signs of every kind, quiet and loud stretches,
// a weight held at 0, and a prediction that is not a number).
TEST(Mixing, StageWeightComputesWhatArithmeticMdSays) {
  mixing::StageWeight weight;
  double w = 1.0, mean_square = 0.0;
  uint32_t lcg = 3;
  for (int t = 0; t < 20000; ++t) {
    lcg = lcg * 1664525u + 1013904223u;
    const double scale = (t / 2000) % 3 == 0 ? 1.0 / 1024 : (t / 2000) % 3 == 1 ? 1.0 : 300.0;
    const double p = (static_cast<double>(lcg >> 8) - 8388608.0) / 8388608.0 * scale;
    ASSERT_EQ(std::bit_cast<uint64_t>(weight.weigh(p)), std::bit_cast<uint64_t>(w * p)) << "value " << t;
    // Mostly the sign of p (the stage pays), for a while mostly against it.
    const double agree = (t / 5000) % 2 == 0 ? 1.0 : -1.0;
    const double s = (lcg & 7) == 0 ? 0.0 : (lcg & 7) < 6 ? agree * ((p > 0) - (p < 0)) : -agree;
    weight.update(s);
    const double g = s * p;
    mean_square = (15.0 / 16) * mean_square + (1.0 / 16) * (g * g);
    w = w + ((1.0 / 128) * g) / (std::sqrt(mean_square) + 1.0 / 65536);
    w = w > 0 ? w : 0.0;
  }
  weight.weigh(std::nan(""));
  weight.update(1.0);
  EXPECT_EQ(weight.weigh(5.0), 0.0);
}

// Stereo whose second channel is the first one sample late (a microphone a little
// farther off) plus noise of its own, over a steady resonance. Alone, each channel needs
// no adaptive stage; but channel 1's least-squares stage takes channel 0's last two values
// as inputs, and the one before this frame's is channel 1's value to within its noise.
// The estimate runs channel 0 beside channel 1, as the stage sees it, so it takes the
// stage there (estimated alone, channel 1 went without it: a chunk-coder choice that
// made the stereo music set's 2 KB chunks 2.5 % larger).
TEST(Mixing, StagesOfALaterChannelAreEstimatedWithChannelZeroBesideThem) {
  const auto first = resonance(
      5, 24, [](int) { return 440.0; }, 0.99, [](int) { return 0.0; });
  std::vector<int64_t> second(first.size());
  uint32_t lcg = 99;
  for (size_t t = 1; t < first.size(); ++t) {
    lcg = lcg * 1664525u + 1013904223u;
    second[t] = std::clamp<int64_t>(first[t - 1] + static_cast<int64_t>(lcg >> 29) - 4, -32768, 32767);
  }
  const auto alone = mixing::choose_params(std::vector<std::vector<int64_t>>{second}, 16);
  const auto both = mixing::choose_params(std::vector<std::vector<int64_t>>{first, second}, 16);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0].adaptive, 0);
  EXPECT_EQ(alone[0].adaptive, 0);
  EXPECT_NE(both[1].adaptive, 0);
}

// The NLMS stage against docs/ARITHMETIC.md §6.3 written out a second way (a queue, the
// lanes summed by hand): every prediction's bits must agree, so a change in the order of
// any sum shows at once, long before it would flip a rounded prediction of a golden
// stream; at every SIMD level (the stage's loops run four lanes at a time with AVX2).
void nlms_stage_computes_what_arithmetic_md_says() {
  constexpr size_t kTaps = 256;
  mixing::NlmsStage stage(kTaps, 1.0 / 32);
  std::deque<double> hist(kTaps, 0.0);  // newest first
  std::vector<double> w(kTaps, 0.0);
  uint32_t lcg = 5;
  double phase = 0;
  for (int t = 0; t < 20000; ++t) {
    std::array<double, 8> pred{}, power{};
    for (size_t k = 0; k < kTaps; ++k) {
      pred[k % 8] = pred[k % 8] + w[k] * hist[k];
      power[k % 8] = power[k % 8] + hist[k] * hist[k];
    }
    const auto tree = [](const std::array<double, 8>& l) {
      return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
    };
    const double p = tree(pred), pw = tree(power);
    ASSERT_EQ(std::bit_cast<uint64_t>(stage.predict()), std::bit_cast<uint64_t>(p)) << "value " << t;
    // A periodic signal with noise, silences and loud stretches: integer residuals.
    lcg = lcg * 1664525u + 1013904223u;
    phase += 0.07;
    const double loud = (t / 3000) % 3 == 1 ? 3000.0 : (t / 3000) % 3 == 2 ? 0.0 : 40.0;
    const double v = std::floor(loud * std::sin(phase)) + static_cast<double>(lcg >> 28) - 8.0;
    const double d = v - p;
    const double step = ((1.0 / 32) * d) / ((pw + 1.0) + 0.5 * (d * d));
    for (size_t k = 0; k < kTaps; ++k) w[k] = w[k] + step * hist[k];
    hist.push_front(v);
    hist.pop_back();
    stage.update(v);
  }
}

TEST(Mixing, NlmsStageComputesWhatArithmeticMdSays) {
  for (int level = 0; level <= 2; ++level) {
    SCOPED_TRACE(level);
    set_cpu_simd_level(level);
    nlms_stage_computes_what_arithmetic_md_says();
  }
  set_cpu_simd_level(2);
}

// A quiet signal, then one value far louder than anything in the stage's history (an
// onset): the step is bounded by the error's square (revision 9), so that one error
// barely moves the weights, and the predictions that follow, with the spike in the
// history, stay well below it (at most 2,550 when measured). Normalized by the
// history's power alone, it moved every weight by about 0.7 times its input, and the
// spike came back as predictions of 145,000 to 580,000.
TEST(Mixing, NlmsStageStaysCalmAfterASpike) {
  mixing::NlmsStage stage(64, 1.0 / 16);
  uint32_t lcg = 3;
  const auto quiet = [&lcg] {
    lcg = lcg * 1664525u + 1013904223u;
    return static_cast<double>(lcg >> 29) - 4.0;
  };
  for (int t = 0; t < 2000; ++t) {
    stage.predict();
    stage.update(quiet());
  }
  stage.predict();
  stage.update(30000.0);
  for (int t = 0; t < 64; ++t) {
    EXPECT_LT(std::fabs(stage.predict()), 6000.0) << "value " << t << " after the spike";
    stage.update(quiet());
  }
}

// The least-squares stage against docs/ARITHMETIC.md §6.3 as written there: the
// Cholesky factor row by row (the stage makes it column by column, which must give the
// same bits), every prediction compared bit for bit over many refits, at every SIMD
// level (the stage's element-wise loops run four at a time with AVX2, eight with AVX-512).
void least_squares_stage_computes_what_arithmetic_md_says() {
  constexpr size_t kN = 35;
  constexpr double kForget = 0.995;
  mixing::LeastSquaresStage stage(kN, kForget);
  std::vector<double> c(kN * kN, 0.0), b(kN, 0.0), w(kN, 0.0), l(kN * kN, 0.0), y(kN, 0.0);
  w[kN - 1] = 1.0;
  double samples = 0.0;
  const auto refit = [&] {
    double tr = 0.0;
    for (size_t i = 0; i < kN; ++i) tr = tr + c[i * kN + i];
    const double reg = 2.0 * (tr / static_cast<double>(kN) / samples + 1.0);
    for (size_t i = 0; i < kN; ++i)
      for (size_t j = 0; j <= i; ++j) {
        double s = c[i * kN + j];
        if (i == j) s = s + reg;
        for (size_t k = 0; k < j; ++k) s = s - l[i * kN + k] * l[j * kN + k];
        if (j < i) {
          l[i * kN + j] = s / l[j * kN + j];
        } else {
          if (!(s > 0.0 && std::isfinite(s))) return;
          l[i * kN + i] = std::sqrt(s);
        }
      }
    for (size_t i = 0; i < kN; ++i) {
      double s = b[i];
      if (i == kN - 1) s = s + reg;
      for (size_t k = 0; k < i; ++k) s = s - l[i * kN + k] * y[k];
      y[i] = s / l[i * kN + i];
    }
    for (size_t i = kN; i-- > 0;) {
      double s = y[i];
      for (size_t k = i + 1; k < kN; ++k) s = s - l[k * kN + i] * w[k];
      w[i] = s / l[i * kN + i];
    }
  };
  // A resonance with noise, silent and loud stretches; inputs as the predictor makes them.
  std::vector<double> x(kN + 1, 0.0);
  uint32_t lcg = 9;
  for (int t = 0; t < 6000; ++t) {
    std::vector<double> u(x.begin(), x.begin() + kN);  // newest first
    u[kN - 1] = 2.0 * x[0] - x[1];                     // a stored linear prediction
    double predicted = 0.0;
    for (size_t k = 0; k < kN; ++k) predicted = predicted + w[k] * u[k];
    ASSERT_EQ(std::bit_cast<uint64_t>(stage.predict(u)), std::bit_cast<uint64_t>(predicted)) << "value " << t;
    lcg = lcg * 1664525u + 1013904223u;
    const double loud = (t / 1500) % 3 == 1 ? 0.0 : (t / 1500) % 3 == 2 ? 8000.0 : 300.0;
    const double v =
        std::floor(1.6 * x[0] - 0.8 * x[1] + loud * std::sin(0.05 * t) / 8) + static_cast<double>(lcg >> 27) - 16.0;
    stage.update(u, v);
    for (size_t i = 0; i < kN; ++i) {
      for (size_t j = 0; j <= i; ++j) c[i * kN + j] = kForget * c[i * kN + j] + u[i] * u[j];
      b[i] = kForget * b[i] + u[i] * v;
    }
    samples = kForget * samples + 1.0;
    if (t % 8 == 7) refit();
    x.insert(x.begin(), v);
    x.pop_back();
  }
}

TEST(Mixing, LeastSquaresStageComputesWhatArithmeticMdSays) {
  for (int level = 0; level <= 2; ++level) {
    SCOPED_TRACE(level);
    set_cpu_simd_level(level);
    least_squares_stage_computes_what_arithmetic_md_says();
  }
  set_cpu_simd_level(2);
}

// With no --chunk-size, the audio model alone makes chunks of 65536 frames (no context
// bounds it, and its stages adapt through a chunk); mixed with the bundled model, about
// as many in whole segments of what its context holds (2046 bytes of 24-bit mono: 96).
TEST(Mixing, AudioModelChunksAre65536FramesByDefault) {
  PcmFormat f;
  f.channels = 2;
  const Bytes wav = test::make_wav(f, test::make_pcm(f, 10000, Content::SineNoise));
  auto audio = load_model("audio");
  const CompressOptions o;
  const Bytes packed = compress_audio(*audio, wav, o);
  EXPECT_EQ(parse_lmac(packed).stream.header.chunk_bytes, 65536u * 4);
  EXPECT_EQ(default_chunk_bytes(*audio, f), 65536u * 4);
  f.bits = 24;
  f.channels = 1;
  EXPECT_EQ(default_chunk_bytes(*audio, f), 65536u * 3);
  EXPECT_EQ(default_chunk_bytes(*load_model("mix:" + kBundled), f), 96u * 2046);
  EXPECT_EQ(lm_segment_bytes(*load_model("mix:" + kBundled), f, 96u * 2046), 2046u);
  // A language model without a context limit sees each chunk whole: no segments.
  auto unbounded = load_model("mix:builtin:order2");
  EXPECT_EQ(default_chunk_bytes(*unbounded, f), 65536u * 3);
  EXPECT_EQ(lm_segment_bytes(*unbounded, f, 65536u * 3), 0u);
  size_t size = 0;
  round_trip(*audio, wav, o, "default chunks", &size);
}

// A mixed chunk may be longer than the language model's context: the language model
// starts afresh every segment (what its context holds) while the audio model runs on
// through the chunk, so the default chunks are the audio model's length. Round trips at
// any threads and batch; smaller than chunks of one segment; chunks that fit the context
// keep the stream as it was (no segment field).
TEST(Mixing, MixedChunksRunTheLanguageModelInSegmentsOfItsContext) {
  auto mix = load_model("mix:" + kBundled);
  PcmFormat f;  // 16-bit mono: segments of 2046 bytes; by default chunks of 64 of them
  EXPECT_EQ(default_chunk_bytes(*mix, f), 64u * 2046);
  const Bytes wav = test::make_wav(f, test::make_pcm(f, 3000, Content::SineNoise));
  CompressOptions o;
  o.chunk_bytes = 2 * 2046;              // kept short for the sanitizer build: 4,092 + 1,908 bytes
  o.codec.store_incompressible = false;  // every chunk mixed, none by the audio model alone
  Bytes first;
  for (int threads : {1, 2}) {
    o.codec.threads = threads;
    o.codec.batch = threads == 1 ? 1 : 16;
    Bytes packed = compress_audio(*mix, wav, o);
    if (first.empty()) first = packed;
    EXPECT_EQ(packed, first) << threads << " threads";
    EXPECT_EQ(decompress_audio(*mix, parse_lmac(packed), o.codec, false).file, wav);
  }
  EXPECT_EQ(parse_lmac(first).stream.header.lm_segment_bytes, 2046u);
  o.chunk_bytes = 2046;
  const Bytes short_chunks = compress_audio(*mix, wav, o);
  EXPECT_EQ(parse_lmac(short_chunks).stream.header.lm_segment_bytes, 0u);
  EXPECT_LT(first.size(), short_chunks.size());
  // A segment the context cannot hold is refused, per chunk, before decoding it (the
  // last chunk, 1,908 bytes, is one segment either way).
  ParsedStream p = parse_lmac(first);
  p.stream.header.lm_segment_bytes = 4000;
  const DecompressResult r = decompress_audio(*mix, parse_lmac(write_lmac(p.stream)), o.codec, true);
  ASSERT_EQ(r.bad_chunks, std::vector<size_t>{0});
  EXPECT_NE(r.errors[0].find("its context holds"), std::string::npos) << r.errors[0];
}

// A dataset of one file, `wav`, in a folder of its own, read at `bit_depth` in chunks of
// `chunk_bytes` (as lmac eval --audio-dir reads it).
Dataset one_file_dataset(const std::string& name, const Bytes& wav, int bit_depth, uint32_t chunk_bytes) {
  const std::string dir = test::temp_dir() + "/" + name;
  std::filesystem::create_directories(dir);
  test::write_bytes(dir + "/a.wav", wav);
  DatasetOptions o;
  o.dirs = {dir};
  o.bit_depth = bit_depth;
  o.chunk_bytes = chunk_bytes;
  return load_dataset(o);
}

// lmac eval on chunks longer than the context: the mix reads them in segments, as lmac
// compress does, instead of refusing them, and verifies each chunk.
TEST(Mixing, EvalMixesChunksLongerThanTheContext) {
  PcmFormat f;
  const Dataset d =
      one_file_dataset("eval-long-mix", test::make_wav(f, test::make_pcm(f, 3000, Content::SineNoise)), 16, 2 * 2046);
  auto mix = load_model("mix:" + kBundled);
  EvalOptions o;
  o.compressors = {"mix"};
  o.mix_model = mix.get();
  o.whole_files = false;
  const auto results = evaluate(d, o);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].chunks, 2u);
  EXPECT_TRUE(results[0].verified);
  EXPECT_LT(results[0].compressed_bytes, results[0].raw_bytes);
  EXPECT_NE(results[0].settings.find("coded by the audio model alone"), std::string::npos) << results[0].settings;
}

// The stream `lmac compress --raw` makes of `pcm` as one chunk: what lmac eval's
// whole-file runs count, as FLAC's whole files count their headers.
uint64_t one_chunk_stream(const CodecModel& model, ByteSpan pcm, const PcmFormat& f, bool exhaustive) {
  CompressOptions co;
  co.raw_format = f;
  co.chunk_bytes = static_cast<uint32_t>(pcm.size());
  co.codec.exhaustive = exhaustive;
  co.codec.mixed_min_saving_per_mille = 0;  // as lmac eval's mix row
  const Bytes s = compress_audio(model, pcm, co);
  EXPECT_EQ(parse_lmac(s).stream.chunks.size(), 1u);
  return s.size();
}

// lmac eval's whole-file run of the audio model: each file one chunk, so the predictor
// adapts over the whole file and pays for its parameters once. On a steady tone that is
// clearly less than 2048-byte chunks, and a whole file decodes like any stream.
TEST(Mixing, EvalRunsTheAudioModelOnWholeFiles) {
  PcmFormat f;
  f.channels = 2;
  const Bytes pcm = test::make_pcm(f, 20000, Content::SineNoise);
  const Dataset d = one_file_dataset("eval-whole-audio", test::make_wav(f, pcm), 8, 2048);
  auto audio = load_model("audio");
  EvalOptions o;
  o.compressors = {"audio"};
  o.audio_model = audio.get();
  const auto results = evaluate(d, o);
  ASSERT_EQ(results.size(), 1u);
  ASSERT_TRUE(results[0].whole_bytes.has_value());
  EXPECT_LT(*results[0].whole_bytes, results[0].compressed_bytes * 95 / 100);
  EXPECT_EQ(*results[0].whole_bytes, one_chunk_stream(*audio, d.files[0].pcm, d.files[0].format, false));
}

uint64_t one_chunk_stream(const CodecModel& model, const Bytes& wav, bool exhaustive) {
  const AudioFile a = parse_audio(wav, std::nullopt);
  return one_chunk_stream(model, a.data, a.format, exhaustive);
}

// The mix runs whole files too: each file one chunk, its language model starting afresh
// at each segment of what its context holds (the file here is several), exactly the
// stream `lmac compress --raw` makes of the file as one chunk; at 8 bits, where the language
// model helps, it is smaller than the audio model's whole run.
TEST(Mixing, EvalRunsTheMixOnWholeFiles) {
  PcmFormat f;
  f.bits = 8;
  f.kind = SampleKind::Unsigned;
  const Bytes pcm = test::make_pcm(f, 4400, Content::Square);
  const Bytes wav = test::make_wav(f, pcm);
  const Dataset d = one_file_dataset("eval-whole-mix", wav, 8, 2046);
  auto mix = load_model("mix:" + kBundled);
  auto audio = load_model("audio");
  ASSERT_GT(pcm.size(), 2 * lm_segment_bytes(*mix, f, static_cast<uint32_t>(pcm.size())));
  EXPECT_TRUE(has_whole_run("mix"));
  EXPECT_FALSE(has_whole_run("lm"));
  EvalOptions o;  // verifying: a whole file that does not decode to its bytes throws
  o.audio_model = audio.get();
  o.mix_model = mix.get();
  const std::vector<size_t> first{0};
  const uint64_t mixed = measure_whole(d, "mix", first, o).at(0);
  EXPECT_EQ(mixed, one_chunk_stream(*mix, wav, false));
  // The coded bytes: the mix's stream header is longer (its model's name, the segments).
  const auto coded = [&](const CodecModel& m, uint64_t whole) {
    return whole - one_chunk_stream_overhead(m, f, {}, pcm.size());
  };
  EXPECT_LT(coded(*mix, mixed), coded(*audio, measure_whole(d, "audio", first, o).at(0)));
}

// lmac eval -e: the audio and mix rows search the stages at every width, as lmac
// compress -e, on chunks and whole files alike.
TEST(Mixing, EvalSearchesTheStagesWhenAskedToBeExhaustive) {
  const Bytes wav = test::read_bytes(std::string(LMAC_SOURCE_DIR) + "/audio/Front_Center.wav");
  const Dataset d = one_file_dataset("eval-exhaustive", wav, 16, 8192);
  auto audio = load_model("audio");
  EvalOptions o;
  o.compressors = {"audio"};
  o.audio_model = audio.get();
  o.verify = false;
  const auto plain = evaluate(d, o);
  o.exhaustive = true;
  const auto searched = evaluate(d, o);
  ASSERT_TRUE(plain[0].whole_bytes && searched[0].whole_bytes);
  EXPECT_LT(searched[0].compressed_bytes, plain[0].compressed_bytes);
  EXPECT_LE(*searched[0].whole_bytes, *plain[0].whole_bytes);
  EXPECT_EQ(*searched[0].whole_bytes, one_chunk_stream(*audio, wav, true));
}

}  // namespace
}  // namespace lmac
