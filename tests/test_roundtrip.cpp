// Lossless round trips through the whole codec, compared byte for byte, over the
// matrix of bit depths, channels, mappings, layouts, chunk sizes and contents.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "lmac/codec/file_codec.hpp"
#include "test_support.hpp"

namespace lmac {
namespace {

using test::Content;

struct Layouts {
  Layout layout;
  uint32_t n;
  const char* name;
};

void round_trip(const CodecModel& model, const Bytes& file, const CompressOptions& o, const std::string& what) {
  Bytes packed = compress_audio(model, file, o);
  ParsedStream p = parse_lmac(packed);
  DecompressResult r = decompress_audio(model, p, o.codec, false);
  ASSERT_EQ(r.file, file) << what;
}

TEST(RoundTrip, FullMatrixWithBuiltinModel) {
  auto model = make_builtin_order2();
  int cases = 0;
  for (int bits : {8, 16, 24, 32})
    for (int ch : {1, 2, 6})
      for (Mapping m : {Mapping::Shift, Mapping::Mask})
        for (Layouts l : {Layouts{Layout::Interleaved, 1, "interleaved"}, Layouts{Layout::Blocked, 1, "blocked1"},
                          Layouts{Layout::Blocked, 4, "blocked4"}, Layouts{Layout::Blocked, 0, "blockedN"},
                          Layouts{Layout::Planar, 1, "planar"}})
          for (Content c :
               {Content::Silence, Content::Square, Content::SineNoise, Content::WhiteNoise, Content::FloatSpecials})
            for (size_t frames : {size_t{0}, size_t{1}, size_t{301}}) {
              PcmFormat f;
              f.bits = static_cast<uint16_t>(bits);
              f.channels = static_cast<uint16_t>(ch);
              f.kind = bits == 8 ? SampleKind::Unsigned : SampleKind::Signed;
              if (c == Content::FloatSpecials) {
                if (bits != 32) continue;
                f.kind = SampleKind::Float;
              }
              Bytes data = test::make_pcm(f, frames, c, static_cast<uint32_t>(cases));
              Bytes wav = test::make_wav(f, data, cases % 2 == 1);
              const size_t fb = static_cast<size_t>(f.frame_bytes());
              for (size_t chunk : {fb, 2048 / fb * fb, 37 * fb}) {
                CompressOptions o;
                o.serial.mapping = m;
                o.serial.layout = l.layout;
                o.serial.block_n = l.n ? l.n : static_cast<uint32_t>(chunk / fb);  // N = frames per chunk
                o.chunk_bytes = static_cast<uint32_t>(chunk);
                o.codec.batch = 1 + cases % 5;
                round_trip(
                    *model, wav, o,
                    fmt::format("{}bit {}ch {} {} {} frames={} chunk={}", bits, ch,
                                m == Mapping::Shift ? "shift" : "mask", l.name, test::content_name(c), frames, chunk));
                ++cases;
              }
            }
  EXPECT_GT(cases, 1000);
}

TEST(RoundTrip, AiffAndRawAndBigEndian) {
  auto model = make_builtin_order2();
  for (bool be : {true, false})
    for (int bits : {8, 16, 24, 32}) {
      PcmFormat f;
      f.bits = static_cast<uint16_t>(bits);
      f.channels = 2;
      f.big_endian = be;
      Bytes data = test::make_pcm(f, 500, Content::SineNoise);
      CompressOptions o;
      round_trip(*model, test::make_aiff(f, data), o, "aiff");
      o.raw_format = f;
      round_trip(*model, data, o, "raw");
      Bytes ragged = data;
      ragged.push_back(0x42);  // a trailing partial frame is kept verbatim
      round_trip(*model, ragged, o, "raw+partial");
    }
}

TEST(RoundTrip, OutputIndependentOfThreadsAndBatch) {
  auto model = make_builtin_order2();
  PcmFormat f;
  f.channels = 2;
  Bytes wav = test::make_wav(f, test::make_pcm(f, 5000, Content::SineNoise));
  Bytes first;
  for (int threads : {1, 2, 3})
    for (int batch : {1, 4, 16}) {
      CompressOptions o;
      o.codec.threads = threads;
      o.codec.batch = batch;
      Bytes packed = compress_audio(*model, wav, o);
      if (first.empty()) first = packed;
      EXPECT_EQ(packed, first) << threads << " threads, batch " << batch;
      CodecOptions d;
      d.threads = 4 - threads;
      d.batch = 17 - batch;
      EXPECT_EQ(decompress_audio(*model, parse_lmac(packed), d, false).file, wav);
    }
}

TEST(RoundTrip, WrongModelIsRefusedBeforeDecoding) {
  class Other final : public CodecModel {
   public:
    explicit Other(std::unique_ptr<CodecModel> m) : m_(std::move(m)) {}
    std::string name() const override { return "other"; }
    uint64_t fingerprint() const override { return 42; }
    bool has_subword() const override { return false; }
    std::vector<int32_t> tokenize(std::string_view t) const override { return m_->tokenize(t); }
    std::string detokenize(std::span<const int32_t> t) const override { return m_->detokenize(t); }
    size_t max_tokens() const override { return SIZE_MAX; }
    std::unique_ptr<Predictor> predictor(TokenMode mode, int th) const override { return m_->predictor(mode, th); }
    bool parallel_predictors() const override { return true; }

   private:
    std::unique_ptr<CodecModel> m_;
  };
  auto model = make_builtin_order2();
  Other other(make_builtin_order2());
  PcmFormat f;
  Bytes packed = compress_audio(*model, test::make_wav(f, test::make_pcm(f, 100, Content::Square)), {});
  try {
    decompress_audio(other, parse_lmac(packed), {}, false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("wrong model"), std::string::npos);
  }
}

}  // namespace
}  // namespace lmac
