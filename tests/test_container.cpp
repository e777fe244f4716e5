#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <stdexcept>
#include <string>

#include "lmac/codec/file_codec.hpp"
#include "lmac/common/hash.hpp"
#include "lmac/models/model_registry.hpp"
#include "test_support.hpp"

namespace lmac {
namespace {

constexpr size_t kFooterBytes = 8 + 4;  // data checksum, stream hash

// Where the header hash (u32) lies in the stream of these fields: the header's bytes
// are write_lmac's whatever records follow.
size_t header_hash_at(const LmacStream& s) {
  LmacStream only_header = s;
  only_header.chunks.clear();
  return write_lmac(only_header).size() - kFooterBytes - 4;
}

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
  const size_t header_end = header_hash_at(p.stream) + 4;
  t[header_end + record_bytes(p.stream.chunks[0]) + record_bytes(p.stream.chunks[1]) / 2] ^= 0x40;
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
  PcmFormat f;
  f.channels = 2;
  CompressOptions o;
  o.chunk_bytes = 1024;
  ParsedStream p =
      parse_lmac(compress_audio(*model, test::make_wav(f, test::make_pcm(f, 700, test::Content::Square)), o));
  ASSERT_FALSE(p.stream.chunks[1].stored);
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
// hashes (the header hash at hash_at), so that only the field itself is wrong.
Bytes with_header_byte(Bytes s, size_t at, uint8_t v, size_t hash_at) {
  s[at] = v;
  store_le(s.data() + hash_at, hash64(ByteSpan(s).subspan(12, hash_at - 12)), 4);
  store_le(s.data() + s.size() - 4, hash64(ByteSpan(s).subspan(0, s.size() - 4)), 4);
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
  const size_t container_at = 14;  // after magic, version, flags, revision: bits 0-1
  const size_t hash_at = header_hash_at(parse_lmac(s).stream);
  const uint8_t aiff = static_cast<uint8_t>((s[container_at] & ~3) | static_cast<int>(Container::Aiff));
  EXPECT_NO_THROW(parse_lmac(with_header_byte(s, container_at, s[container_at], hash_at)));  // the helper itself
  try {
    parse_lmac(with_header_byte(s, container_at, aiff, hash_at));
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("canonical WAV header"), std::string::npos) << e.what();
  }
  const ParsedStream odd = parse_lmac(compress_audio(*model, odd_riff, o));
  Bytes stored = write_lmac(odd.stream);
  stored[10] |= 2;
  stored = with_header_byte(stored, 10, stored[10], header_hash_at(odd.stream));  // (flags: not in the header hash)
  EXPECT_THROW(parse_lmac(stored), FormatError);
}

// Format version 3 writes lengths as LEB128 varints: one encoding per value, so a
// longer one (or one past 64 bits) is refused rather than read.
TEST(Container, VariableLengthIntegersHaveOneEncodingEach) {
  for (uint64_t v : {uint64_t{0}, uint64_t{127}, uint64_t{128}, uint64_t{16383}, uint64_t{16384}, uint64_t{1} << 63,
                     std::numeric_limits<uint64_t>::max()}) {
    Bytes b;
    ByteWriter(b).varint(v);
    EXPECT_EQ(b.size(), v == 0 ? 1 : (64 - static_cast<size_t>(__builtin_clzll(v)) + 6) / 7) << v;
    ByteReader r(b, "test");
    EXPECT_EQ(r.varint(), v);
    EXPECT_EQ(r.remaining(), 0u);
  }
  for (const Bytes& bad : {Bytes{0x80, 0x00}, Bytes{0xFF, 0x00}, Bytes{0x80},
                           Bytes{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02}}) {
    ByteReader r(bad, "test");
    EXPECT_THROW(r.varint(), FormatError);
  }
}

// What a stream costs besides its coded bytes: a one-chunk stream of the audio model
// about 70 bytes (version 2: 135), a further chunk's record 9 to 13 (version 2: 30).
TEST(Container, AStreamCostsLittleBesidesItsCodedBytes) {
  auto model = load_model("audio");
  PcmFormat f;
  f.rate = 48000;
  const Bytes wav = test::make_wav(f, test::make_pcm(f, 4000, test::Content::SineNoise));
  CompressOptions o;
  o.chunk_bytes = 8000;
  const Bytes whole = compress_audio(*model, wav, o);
  const ParsedStream one = parse_lmac(whole);
  ASSERT_EQ(one.stream.chunks.size(), 1u);
  ASSERT_FALSE(one.stream.chunks[0].stored);
  EXPECT_LE(whole.size() - one.stream.chunks[0].tokens.size(), 72u);
  o.chunk_bytes = 1000;
  const Bytes chunked = compress_audio(*model, wav, o);
  const ParsedStream p = parse_lmac(chunked);
  uint64_t records = 0;
  for (const ChunkRecord& c : p.stream.chunks) {
    const uint64_t n = record_bytes(c);
    EXPECT_LE(n - c.tokens.size(), 13u);
    EXPECT_GE(n - c.tokens.size(), c.stored ? 9u : 10u);
    records += n;
  }
  EXPECT_EQ(chunked.size(), header_hash_at(p.stream) + 4 + records + kFooterBytes);
  EXPECT_EQ(decompress_audio(*model, p, {}, false).file, wav);
}

// A record whose fields contradict its mode cannot be written: its lengths are implied
// by the mode, so writing it would lose data.
TEST(Container, ARecordThatContradictsItsModeIsNotWritten) {
  auto model = load_model("audio");
  PcmFormat f;
  const Bytes wav = test::make_wav(f, test::make_pcm(f, 600, test::Content::SineNoise));
  CompressOptions o;
  o.chunk_bytes = 400;
  const ParsedStream p = parse_lmac(compress_audio(*model, wav, o));
  ASSERT_FALSE(p.stream.chunks[0].stored);
  LmacStream residual = p.stream, count = p.stream, stored = p.stream;
  residual.chunks[0].residual = {1};
  count.chunks[0].token_count += 1;
  stored.chunks[0].stored = true;  // its tokens are not the chunk's 400 bytes
  for (const LmacStream* s : {&residual, &count, &stored}) EXPECT_THROW(write_lmac(*s), std::logic_error);
}

// Reserved bits of a record's mode byte make the record damaged (its hash still
// holds); reserved bits of the header's packed fields refuse the stream.
TEST(Container, ReservedBitsAreRefused) {
  auto model = make_builtin_order2();
  const Bytes s = sample_stream(*model);
  const ParsedStream p = parse_lmac(s);
  const size_t first_record = header_hash_at(p.stream) + 4;
  Bytes t = s;
  t[first_record] |= 0x40;
  const size_t end = first_record + record_bytes(p.stream.chunks[0]);
  store_le(t.data() + end - 4, hash64(ByteSpan(t).subspan(first_record, end - 4 - first_record)), 4);
  store_le(t.data() + t.size() - 4, hash64(ByteSpan(t).subspan(0, t.size() - 4)), 4);
  EXPECT_EQ(parse_lmac(t, true).damaged, std::vector<size_t>{0});
  const Bytes h = with_header_byte(s, 15, static_cast<uint8_t>(s[15] | 0x80), header_hash_at(p.stream));
  try {
    parse_lmac(h);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("reserved header bits"), std::string::npos) << e.what();
  }
}

// A version 2 stream (lmac 0.1.0 and 0.2.0) is read with its own layout: a damaged
// record is found by its hash and the others restore.
TEST(Container, AVersion2StreamWithADamagedRecordRestoresTheOthers) {
  const std::string path = std::string(LMAC_GOLDEN_DIR) + "/v2/r11-audio-s16-mono-later.lmac";
  const Bytes s = test::read_bytes(path);
  const ParsedStream good = parse_lmac(s);
  ASSERT_EQ(good.version, 2);
  ASSERT_GE(good.stream.chunks.size(), 2u);
  auto model = load_model("audio");
  const Bytes original = decompress_audio(*model, good, {}, false).file;
  Bytes t = s;
  t[t.size() - 20 - 8 - 2] ^= 1;  // the last record's last coded byte (before its hash, the footer)
  const ParsedStream p = parse_lmac(t, true);
  EXPECT_EQ(p.damaged, std::vector<size_t>{good.stream.chunks.size() - 1});
  const DecompressResult r = decompress_audio(*model, p, {}, true);
  EXPECT_EQ(r.bad_chunks, p.damaged);
  ASSERT_EQ(r.file.size(), original.size());
  const StreamHeader& h = good.stream.header;
  const size_t last = original.size() - (h.data_bytes - (good.stream.chunks.size() - 1) * h.chunk_bytes);
  EXPECT_TRUE(std::equal(original.begin(), original.begin() + static_cast<ptrdiff_t>(last), r.file.begin()));
}

// What an output is named for comes from the stream's first bytes alone, in either
// version.
TEST(Container, TheContainerIsReadFromTheFirstBytesOfEitherVersion) {
  for (const std::string dir : {"", "/v2"}) {
    const Bytes aiff = test::read_bytes(std::string(LMAC_GOLDEN_DIR) + dir + "/r11-builtin-s16-stereo-aiff.lmac");
    EXPECT_EQ(peek_container(ByteSpan(aiff).first(kContainerPeekBytes)), Container::Aiff) << dir;
    const Bytes wav = test::read_bytes(std::string(LMAC_GOLDEN_DIR) + dir + "/r11-builtin-u8-mono.lmac");
    EXPECT_EQ(peek_container(wav), Container::Wav) << dir;
    EXPECT_EQ(peek_container(ByteSpan(wav).first(kContainerPeekBytes - 1)), std::nullopt) << dir;
  }
  const Bytes junk(32, 'L');
  EXPECT_EQ(peek_container(junk), std::nullopt);
}

}  // namespace
}  // namespace lmac
