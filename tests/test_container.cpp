#include <gtest/gtest.h>

#include <random>

#include "lmac/codec/file_codec.hpp"
#include "lmac/common/hash.hpp"
#include "test_support.hpp"

namespace lmac {
namespace {

Bytes sample_stream(const CodecModel& model) {
  PcmFormat f;
  f.bits = 16;
  f.channels = 2;
  Bytes wav = test::make_wav(f, test::make_pcm(f, 700, test::Content::SineNoise), true);
  CompressOptions o;
  o.chunk_bytes = 1024;
  return compress_audio(model, wav, o);
}

TEST(Container, HeaderFieldsRoundTrip) {
  auto model = make_builtin_order2();
  Bytes s = sample_stream(*model);
  ParsedStream p = parse_lmac(s);
  EXPECT_TRUE(p.damaged.empty());
  EXPECT_EQ(p.stream.header.model_name, "builtin:order2");
  EXPECT_EQ(p.stream.header.chunk_count, 3u);
  EXPECT_EQ(write_lmac(p.stream), s);
}

TEST(Container, EveryTruncationIsRejected) {
  auto model = make_builtin_order2();
  Bytes s = sample_stream(*model);
  for (size_t cut = 0; cut < s.size(); ++cut) {
    Bytes t(s.begin(), s.begin() + static_cast<ptrdiff_t>(cut));
    EXPECT_THROW(
        {
          ParsedStream p = parse_lmac(t);
          decompress_audio(*model, p, {}, false);
        },
        Error)
        << cut;
  }
}

TEST(Container, RandomByteFlipsNeverDecodeSilentlyWrong) {
  auto model = make_builtin_order2();
  Bytes s = sample_stream(*model);
  ParsedStream good = parse_lmac(s);
  Bytes original = decompress_audio(*model, good, {}, false).file;
  std::mt19937 rng(5);
  for (int trial = 0; trial < 400; ++trial) {
    Bytes t = s;
    int flips = 1 + trial % 3;
    for (int k = 0; k < flips; ++k)
      t[std::uniform_int_distribution<size_t>(0, t.size() - 1)(rng)] ^=
          static_cast<uint8_t>(1 + std::uniform_int_distribution<int>(0, 254)(rng));
    try {
      ParsedStream p = parse_lmac(t);
      Bytes out = decompress_audio(*model, p, {}, false).file;
      EXPECT_EQ(out, original) << "trial " << trial;  // only if the flip hit nothing
    } catch (const Error&) {
    }
  }
}

TEST(Container, DamagedChunkIsReportedByNumberAndOthersDecode) {
  auto model = make_builtin_order2();
  Bytes s = sample_stream(*model);
  ParsedStream p = parse_lmac(s);
  // Flip a byte inside chunk 1's coded tokens: find it by re-serializing offsets.
  Bytes t = s;
  size_t header_end = s.size();
  {
    LmacStream only_header = p.stream;
    only_header.chunks.clear();
    header_end = write_lmac(only_header).size() - 20;  // minus the footer
  }
  size_t chunk0 = 30 + p.stream.chunks[0].tokens.size() + p.stream.chunks[0].residual.size();
  t[header_end + chunk0 + 30] ^= 0x40;
  ParsedStream q = parse_lmac(t);
  ASSERT_EQ(q.damaged, std::vector<size_t>{1});
  EXPECT_THROW(decompress_audio(*model, q, {}, false), Error);
  DecompressResult r = decompress_audio(*model, q, {}, true);
  EXPECT_EQ(r.bad_chunks, std::vector<size_t>{1});
  Bytes ok = decompress_audio(*model, p, {}, false).file;
  ASSERT_EQ(r.file.size(), ok.size());
  EXPECT_TRUE(std::equal(ok.begin(), ok.begin() + 1000, r.file.begin()));
}

// --keep-going restores a damaged chunk as digital silence of the format: mid-scale
// 0x80 for unsigned 8-bit samples (0x00 would be a full negative swing), 0 otherwise.
TEST(Container, DamagedChunksBecomeSilenceOfTheFormat) {
  auto model = make_builtin_order2();
  for (bool unsigned8 : {true, false}) {
    PcmFormat f;
    f.bits = unsigned8 ? 8 : 16;
    f.kind = unsigned8 ? SampleKind::Unsigned : SampleKind::Signed;
    f.channels = 1;
    const Bytes wav = test::make_wav(f, test::make_pcm(f, 900, test::Content::SineNoise));
    CompressOptions o;
    o.chunk_bytes = 300;
    ParsedStream p = parse_lmac(compress_audio(*model, wav, o));
    p.damaged = {1};  // as the parser reports a record whose hash fails
    const DecompressResult r = decompress_audio(*model, p, {}, true);
    ASSERT_EQ(r.bad_chunks, std::vector<size_t>{1});
    const size_t at = wav.size() - static_cast<size_t>(900 * f.frame_bytes()) + 300;  // chunk 1 in the file
    for (size_t i = at; i < at + 300; ++i) ASSERT_EQ(r.file[i], unsigned8 ? 0x80 : 0x00) << i;
    EXPECT_EQ(r.file[at - 1], wav[at - 1]);
    EXPECT_EQ(r.file[at + 300], wav[at + 300]);
  }
}

// Damage after the last record (cut short, a flipped stream hash, a byte appended) loses
// nothing with keep_going: every chunk has its own checksum. Without it, it is refused.
TEST(Container, DamagedEndOfStreamStillDecodesEveryChunk) {
  auto model = make_builtin_order2();
  const Bytes s = sample_stream(*model);
  const Bytes original = decompress_audio(*model, parse_lmac(s), {}, false).file;
  Bytes cut(s.begin(), s.end() - 1), flipped = s, appended = s;
  flipped.back() ^= 1;
  appended.push_back(0);
  for (const Bytes* t : {&cut, &flipped, &appended}) {
    EXPECT_THROW(parse_lmac(*t), FormatError);
    const ParsedStream p = parse_lmac(*t, true);
    EXPECT_FALSE(p.end_damage.empty());
    EXPECT_TRUE(p.damaged.empty());
    const DecompressResult r = decompress_audio(*model, p, {}, true);
    EXPECT_TRUE(r.bad_chunks.empty());
    EXPECT_FALSE(r.end_damage.empty());
    EXPECT_EQ(r.file, original);
  }
  // A stream with valid hashes whose record claims an absurd token count fails that
  // chunk alone.
  ParsedStream p = parse_lmac(s);
  p.stream.chunks[1].token_count = 1u << 30;
  const ParsedStream q = parse_lmac(write_lmac(p.stream));
  EXPECT_THROW(decompress_audio(*model, q, {}, false), Error);
  const DecompressResult r = decompress_audio(*model, q, {}, true);
  EXPECT_EQ(r.bad_chunks, std::vector<size_t>{1});
}

TEST(Container, RejectsForeignAndFutureFiles) {
  Bytes junk = {'R', 'I', 'F', 'F', 0, 0, 0, 0};
  EXPECT_THROW(parse_lmac(junk), FormatError);
  auto model = make_builtin_order2();
  Bytes s = sample_stream(*model);
  s[8] = 9;  // version
  try {
    parse_lmac(s);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("version 9"), std::string::npos);
  }
}

// Flag bit 0 announces the language model's segment length at the end of the header;
// other bits, and a segment that is empty or not shorter than a chunk, are refused.
TEST(Container, LanguageModelSegmentsRoundTripAndBadOnesAreRefused) {
  auto model = make_builtin_order2();
  ParsedStream p = parse_lmac(sample_stream(*model));
  EXPECT_EQ(p.stream.header.lm_segment_bytes, 0u);
  p.stream.header.lm_segment_bytes = 512;
  const Bytes with = write_lmac(p.stream);
  EXPECT_EQ(with[10], 1);  // flags, after magic and version (the WAV's header has extra chunks: stored)
  EXPECT_EQ(parse_lmac(with).stream.header.lm_segment_bytes, 512u);
  for (uint32_t bad : {uint32_t{1024}, uint32_t{4096}}) {  // chunks of 1024
    p.stream.header.lm_segment_bytes = bad;
    EXPECT_THROW(parse_lmac(write_lmac(p.stream)), FormatError) << bad;
  }
  Bytes zero = with;
  zero[10] = 0;  // the segment field is then read as the header hash: refused
  EXPECT_THROW(parse_lmac(zero), FormatError);
  Bytes future = with;
  future[10] = 5;
  try {
    parse_lmac(future);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown header flags 0x5"), std::string::npos) << e.what();
  }
}

// Replaces header byte `at` (from the start of the file) and fixes the header and stream
// hashes, so that only the field itself is wrong.
Bytes with_header_byte(Bytes s, size_t at, uint8_t v, size_t header_end) {
  s[at] = v;
  const uint64_t h = hash64(ByteSpan(s).subspan(12, header_end - 12));
  store_le(s.data() + header_end, h, 8);
  store_le(s.data() + s.size() - 8, hash64(ByteSpan(s).subspan(0, s.size() - 8)), 8);
  return s;
}

// A WAV file whose header is the one lmac would write for its samples does not store it
// (44 bytes less per file; flag bit 1), and restores it byte for byte; any other header
// (a RIFF size off by one, a trailing chunk it does not count) is stored as before.
TEST(Container, ACanonicalWavHeaderIsMadeFromTheFieldsNotStored) {
  auto model = make_builtin_order2();
  PcmFormat f;
  f.bits = 16;
  f.channels = 1;
  const Bytes pcm = test::make_pcm(f, 301, test::Content::SineNoise);
  const Bytes wav = test::make_wav(f, pcm, false);
  Bytes odd_riff = wav;
  odd_riff[4] ^= 1;
  Bytes with_chunk = wav;  // a trailing LIST chunk the RIFF size counts
  const uint8_t list[] = {'L', 'I', 'S', 'T', 4, 0, 0, 0, 'I', 'N', 'F', 'O'};
  with_chunk.insert(with_chunk.end(), std::begin(list), std::end(list));
  store_le(with_chunk.data() + 4, load_le(wav.data() + 4, 4) + sizeof list, 4);
  CompressOptions o;
  o.chunk_bytes = 256;
  size_t canonical_size = 0;
  for (const Bytes* in : std::initializer_list<const Bytes*>{&wav, &with_chunk, &odd_riff}) {
    const Bytes s = compress_audio(*model, *in, o);
    const ParsedStream p = parse_lmac(s);
    const bool canonical = in != &odd_riff;
    EXPECT_EQ(p.stream.header.canonical_wav_header, canonical);
    EXPECT_EQ(s[10] & 2, canonical ? 2 : 0);
    EXPECT_EQ(p.stream.header.original_header.size(), 44u);
    EXPECT_EQ(decompress_audio(*model, p, {}, false).file, *in);  // byte for byte
    if (in == &wav) canonical_size = s.size();
    if (in == &odd_riff) {
      EXPECT_EQ(s.size(), canonical_size + 44);
    }
  }
  // The flag where no canonical header can be (an AIFF source), or beside a stored
  // header, is refused.
  const Bytes s = compress_audio(*model, wav, o);
  const size_t container_at = 14;                                           // after magic, version, flags, revision
  size_t hash_at = 14 + 1 + 2 + 2 + 4 + 1 + 1 + 1 + 1 + 1 + 1 + 4 + 4 + 1;  // up to the model name
  hash_at += 2 + load_le(s.data() + hash_at, 2) + 8 + 4 + 4 + 8 + 8;        // name, fingerprint, blobs, sizes
  try {
    parse_lmac(with_header_byte(s, container_at, static_cast<uint8_t>(Container::Aiff), hash_at));
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("canonical WAV header"), std::string::npos) << e.what();
  }
  Bytes stored = write_lmac(parse_lmac(compress_audio(*model, odd_riff, o)).stream);
  stored[10] |= 2;
  stored = with_header_byte(stored, 10, stored[10], hash_at + 44);  // (the flags are not in the header hash)
  EXPECT_THROW(parse_lmac(stored), FormatError);
}

}  // namespace
}  // namespace lmac
