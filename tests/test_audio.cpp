#include <gtest/gtest.h>

#include <cstring>

#include "lmac/audio/audio_file.hpp"
#include "test_support.hpp"

namespace lmac {
namespace {

PcmFormat make_format(int bits, int ch, SampleKind kind, bool be = false) {
  PcmFormat f;
  f.bits = static_cast<uint16_t>(bits);
  f.channels = static_cast<uint16_t>(ch);
  f.kind = kind;
  f.big_endian = be;
  f.rate = 22050;
  return f;
}

TEST(Wav, ParsesEveryFormatAndRestoresBytes) {
  for (auto [bits, kind] : std::vector<std::pair<int, SampleKind>>{{8, SampleKind::Unsigned},
                                                                   {16, SampleKind::Signed},
                                                                   {24, SampleKind::Signed},
                                                                   {32, SampleKind::Signed},
                                                                   {32, SampleKind::Float}})
    for (int ch : {1, 2, 6, 8})
      for (bool extra : {false, true}) {
        PcmFormat f = make_format(bits, ch, kind);
        Bytes data = test::make_pcm(f, 33, test::Content::SineNoise);
        Bytes wav = test::make_wav(f, data, extra);
        AudioFile a = parse_audio(wav, std::nullopt);
        EXPECT_EQ(a.container, Container::Wav);
        EXPECT_EQ(a.format.bits, bits);
        EXPECT_EQ(a.format.channels, ch);
        EXPECT_EQ(a.format.kind, kind);
        EXPECT_EQ(a.data, data);
        EXPECT_EQ(serialize_audio(a), wav);
      }
}

TEST(Wav, OddDataChunkKeepsPadByte) {
  PcmFormat f = make_format(8, 1, SampleKind::Unsigned);
  Bytes data = test::make_pcm(f, 7, test::Content::WhiteNoise);
  Bytes wav = test::make_wav(f, data, true);
  AudioFile a = parse_wav(wav);
  EXPECT_EQ(a.data.size(), 7u);
  EXPECT_EQ(a.trailer.size(), 1u + 12u);
  EXPECT_EQ(serialize_audio(a), wav);
}

TEST(Aiff, BigEndianAndSowtAndFloat) {
  for (auto [bits, kind, be] : std::vector<std::tuple<int, SampleKind, bool>>{{8, SampleKind::Signed, true},
                                                                              {16, SampleKind::Signed, true},
                                                                              {24, SampleKind::Signed, true},
                                                                              {32, SampleKind::Signed, true},
                                                                              {16, SampleKind::Signed, false},
                                                                              {32, SampleKind::Float, true}}) {
    PcmFormat f = make_format(bits, 2, kind, be);
    Bytes data = test::make_pcm(f, 21, test::Content::WhiteNoise);
    Bytes aiff = test::make_aiff(f, data);
    AudioFile a = parse_audio(aiff, std::nullopt);
    EXPECT_EQ(a.container, Container::Aiff);
    EXPECT_EQ(a.format, f) << bits;
    EXPECT_EQ(a.data, data);
    EXPECT_EQ(serialize_audio(a), aiff);
  }
}

// RF64 (sizes in ds64, 0xFFFFFFFF in the RIFF and data fields) and a WAV streamed
// through a pipe (sox writes 0x7FFFF000 as the data size) are read by lmac itself and
// come back byte for byte, not rewritten as plain WAV.
TEST(Wav, Rf64AndStreamedWavRestoreBytes) {
  PcmFormat f = make_format(16, 2, SampleKind::Signed);
  const Bytes pcm = test::make_pcm(f, 333, test::Content::SineNoise);
  const Bytes wav = test::make_wav(f, pcm);
  Bytes rf64;
  rf64.reserve(wav.size() + 64);  // (also keeps GCC 12's -Warray-bounds false positive quiet)
  ByteWriter w(rf64);
  w.bytes(ByteSpan(reinterpret_cast<const uint8_t*>("RF64"), 4));
  w.u32(0xFFFFFFFFu);
  w.bytes(ByteSpan(reinterpret_cast<const uint8_t*>("WAVEds64"), 8));
  w.u32(28);
  w.u64(wav.size() + 36 - 8);              // RIFF size
  w.u64(pcm.size());                       // data size
  w.u64(333);                              // frames
  w.u32(0);                                // table entries
  w.bytes(ByteSpan(wav).subspan(12, 24));  // the fmt chunk
  w.bytes(ByteSpan(reinterpret_cast<const uint8_t*>("data"), 4));
  w.u32(0xFFFFFFFFu);
  w.bytes(pcm);
  for (const Bytes* file : {&rf64}) {
    const AudioFile a = parse_audio(*file, std::nullopt);
    EXPECT_EQ(a.container, Container::Wav);
    EXPECT_EQ(a.data, pcm);
    EXPECT_EQ(serialize_audio(a), *file);
  }
  Bytes streamed = wav;
  store_le(&streamed[40], 0x7FFFF000u, 4);  // the data size sox writes to a pipe
  const AudioFile s = parse_audio(streamed, std::nullopt);
  EXPECT_EQ(s.data, pcm);
  EXPECT_EQ(serialize_audio(s), streamed);
  Bytes no_ds64 = rf64;
  std::memcpy(&no_ds64[12], "junk", 4);
  EXPECT_THROW(parse_audio(no_ds64, std::nullopt), FormatError);
}

// WAV encodings lmac does not keep as bytes (here µ-law) go to libsndfile: their samples
// come back as a 16-bit WAV. 64-bit float is refused, never converted.
TEST(Wav, CompandedWavIsDecodedAndDoubleIsRefused) {
  PcmFormat f = make_format(8, 1, SampleKind::Unsigned);
  Bytes ulaw = test::make_wav(f, test::make_pcm(f, 400, test::Content::SineNoise));
  store_le(&ulaw[20], 7, 2);  // WAVE_FORMAT_MULAW
  const AudioFile a = parse_audio(ulaw, std::nullopt);
  EXPECT_EQ(a.container, Container::Decoded);
  EXPECT_EQ(a.format.bits, 16);
  EXPECT_EQ(a.data.size(), 800u);
  PcmFormat d = make_format(32, 1, SampleKind::Float);
  Bytes dbl = test::make_wav(d, test::make_pcm(d, 100, test::Content::SineNoise));
  store_le(&dbl[32], 8, 2);   // block align: 8 bytes a frame
  store_le(&dbl[34], 64, 2);  // 64-bit samples
  try {
    parse_audio(dbl, std::nullopt);
    FAIL() << "a 64-bit float WAV was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("64"), std::string::npos) << e.what();
  }
}

// make_wav_header's bytes are part of the .lmac format (docs/FORMAT.md, the canonical
// WAV header): written out here from that description, for both of its forms.
TEST(Audio, CanonicalWavHeadersAreTheBytesTheFormatDocumentGives) {
  auto le = [](Bytes& b, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  auto tag = [](Bytes& b, const char* t) { b.insert(b.end(), t, t + 4); };
  PcmFormat f;
  f.bits = 16;
  f.channels = 1;
  f.rate = 8000;
  Bytes want;
  tag(want, "RIFF"), le(want, 4 + 24 + 8 + 1001 + 1 + 12, 4), tag(want, "WAVE"), tag(want, "fmt "), le(want, 16, 4);
  le(want, 1, 2), le(want, 1, 2), le(want, 8000, 4), le(want, 16000, 4), le(want, 2, 2), le(want, 16, 2);
  tag(want, "data"), le(want, 1001, 4);
  EXPECT_EQ(make_wav_header(f, 1001, 12), want);  // an odd size's pad byte, 12 bytes of chunks after it
  f.bits = 24, f.channels = 2, f.rate = 48000;
  want.clear();
  tag(want, "RIFF"), le(want, 4 + 48 + 8 + 600, 4), tag(want, "WAVE"), tag(want, "fmt "), le(want, 40, 4);
  le(want, 0xFFFE, 2), le(want, 2, 2), le(want, 48000, 4), le(want, 288000, 4), le(want, 6, 2), le(want, 24, 2);
  le(want, 22, 2), le(want, 24, 2), le(want, 0, 4), le(want, 1, 2);
  for (uint8_t b : {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71})
    want.push_back(b);
  tag(want, "data"), le(want, 600, 4);
  EXPECT_EQ(make_wav_header(f, 600), want);
}

TEST(Audio, TruncatedAndForeignInputsAreFormatErrors) {
  PcmFormat f = make_format(16, 2, SampleKind::Signed);
  Bytes wav = test::make_wav(f, test::make_pcm(f, 50, test::Content::Square));
  for (size_t cut : {size_t{3}, size_t{11}, size_t{20}, size_t{43}, wav.size() - 1}) {
    Bytes t(wav.begin(), wav.begin() + static_cast<ptrdiff_t>(cut));
    EXPECT_THROW(parse_audio(t, std::nullopt), FormatError) << cut;
  }
  Bytes text = {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'};
  EXPECT_THROW(parse_audio(text, std::nullopt), FormatError);
  Bytes bad_tag = wav;
  bad_tag[20] = 0x55;  // format tag
  EXPECT_THROW(parse_audio(bad_tag, std::nullopt), FormatError);
}

TEST(Audio, RawFormatsAndSpecParsing) {
  PcmFormat f = parse_raw_format("s24be:2:48000");
  EXPECT_EQ(f.bits, 24);
  EXPECT_TRUE(f.big_endian);
  EXPECT_EQ(f.channels, 2);
  EXPECT_EQ(f.rate, 48000u);
  EXPECT_EQ(parse_raw_format("u8").kind, SampleKind::Unsigned);
  EXPECT_THROW(parse_raw_format("s12le"), Error);
  EXPECT_THROW(parse_raw_format("x16le"), Error);
  EXPECT_THROW(parse_raw_format("f16le"), Error);
  // Too large for their fields: refused, not wrapped (65552 bits would read as 16).
  EXPECT_THROW(parse_raw_format("s65552le"), Error);
  EXPECT_THROW(parse_raw_format("s16le:70000:44100"), Error);
  EXPECT_THROW(parse_raw_format("s16le:2:0"), Error);
  EXPECT_EQ(parse_raw_format("s16le:65535:4294967295").channels, 65535);
  Bytes raw(601, 7);
  AudioFile a = parse_raw(raw, parse_raw_format("s16le:3"));
  EXPECT_EQ(a.data.size(), 600u);
  EXPECT_EQ(serialize_audio(a), raw);
}

TEST(Audio, FlacThroughLibsndfile) {
  // A FLAC file written with libsndfile's encoder through the sox-free path: we
  // only check that a non-WAV/AIFF container is decoded, when such a file exists.
  Bytes notaudio(100, 0);
  EXPECT_THROW(decode_with_sndfile(notaudio), FormatError);
}

}  // namespace
}  // namespace lmac
