#include "lmac/container/lmac_format.hpp"

#include <fmt/format.h>

#include <cstring>

#include "lmac/common/hash.hpp"

namespace lmac {
namespace {

constexpr uint8_t kStoredMode = 2;  // record mode of a stored chunk

constexpr uint8_t kMagic[8] = {'L', 'M', 'A', 'C', 0x0D, 0x0A, 0x1A, 0x0A};
constexpr uint8_t kEndMagic[4] = {'C', 'A', 'M', 'L'};
constexpr size_t kRecordFixedBytes = 1 + 4 + 1 + 4 + 4 + 8 + 8;
constexpr uint16_t kFlagLmSegments = 1;  // the header ends with lm_segment_bytes
// The original header is not stored: it is make_wav_header's for the fields (most WAV
// files have exactly it, 44 bytes each).
constexpr uint16_t kFlagCanonicalWavHeader = 2;

// The canonical WAV header of a WAV source with these samples and trailer (pad byte,
// then further chunks, which the RIFF size counts); empty where there is none. (A decoded
// source stores no header at all: it is restored as a WAV of this header anyway.)
Bytes canonical_wav_header(const StreamHeader& h) {
  const uint64_t pad = h.data_bytes & 1;
  if (h.container != Container::Wav || h.original_trailer.size() < pad ||
      h.data_bytes + h.original_trailer.size() > 0xFFFFFFFFu - 1024)
    return {};
  return make_wav_header(h.format, h.data_bytes, h.original_trailer.size() - pad);
}

bool header_is_canonical(const StreamHeader& h) {
  return !h.original_header.empty() && h.original_header == canonical_wav_header(h);
}

// canonical: header_is_canonical(h), found once by write_lmac (it sets the flag too).
void write_header(ByteWriter& w, const StreamHeader& h, bool canonical) {
  w.u8(static_cast<uint8_t>(h.container));
  w.u16(h.format.bits);
  w.u16(h.format.channels);
  w.u32(h.format.rate);
  w.u8(static_cast<uint8_t>(h.format.kind));
  w.u8(h.format.big_endian);
  w.u8(static_cast<uint8_t>(h.serial.mapping));
  w.u8(static_cast<uint8_t>(h.serial.byte_order));
  w.u8(h.serial.offset_binary);
  w.u8(static_cast<uint8_t>(h.serial.layout));
  w.u32(h.serial.block_n);
  w.u32(h.chunk_bytes);
  w.u8(static_cast<uint8_t>(h.tokenization));
  w.str16(h.model_name);
  w.u64(h.model_fingerprint);
  w.blob32(canonical ? Bytes{} : h.original_header);
  w.blob32(h.original_trailer);
  w.u64(h.data_bytes);
  w.u64(h.chunk_count);
  if (h.lm_segment_bytes) w.u32(h.lm_segment_bytes);
}

template <typename E>
E enum_field(uint8_t v, uint8_t max, const char* what) {
  if (v > max) fail_format(fmt::format("invalid {} ({})", what, v));
  return static_cast<E>(v);
}

StreamHeader read_header(ByteReader& r, uint16_t flags) {
  StreamHeader h;
  h.container = enum_field<Container>(r.u8(), 3, "container kind");
  h.format.bits = r.u16();
  h.format.channels = r.u16();
  h.format.rate = r.u32();
  h.format.kind = enum_field<SampleKind>(r.u8(), 2, "sample kind");
  h.format.big_endian = enum_field<uint8_t>(r.u8(), 1, "byte order flag") != 0;
  try {
    h.format.validate();
  } catch (const Error& e) {
    fail_format(std::string("invalid PCM format: ") + e.what());
  }
  h.serial.mapping = enum_field<Mapping>(r.u8(), 1, "mapping");
  h.serial.byte_order = enum_field<ByteOrder>(r.u8(), 1, "byte order");
  h.serial.offset_binary = enum_field<uint8_t>(r.u8(), 1, "offset binary flag") != 0;
  h.serial.layout = enum_field<Layout>(r.u8(), 2, "layout");
  h.serial.block_n = r.u32();
  if (h.serial.block_n == 0) fail_format("invalid block size 0");
  h.chunk_bytes = r.u32();
  if (h.chunk_bytes == 0 || h.chunk_bytes % static_cast<uint32_t>(h.format.frame_bytes()))
    fail_format("chunk size is not a multiple of the frame size");
  h.tokenization = enum_field<TokenMode>(r.u8(), 1, "tokenization");
  h.model_name = r.str16();
  h.model_fingerprint = r.u64();
  ByteSpan hb = r.blob32();
  h.original_header.assign(hb.begin(), hb.end());
  ByteSpan tb = r.blob32();
  h.original_trailer.assign(tb.begin(), tb.end());
  h.data_bytes = r.u64();
  h.chunk_count = r.u64();
  if (h.data_bytes % static_cast<uint64_t>(h.format.frame_bytes()))
    fail_format("data size is not a whole number of frames");
  if (h.chunk_count != (h.data_bytes + h.chunk_bytes - 1) / h.chunk_bytes)
    fail_format("chunk count does not match data size");
  if (flags & kFlagLmSegments) {
    h.lm_segment_bytes = r.u32();
    if (h.lm_segment_bytes == 0 || h.lm_segment_bytes >= h.chunk_bytes)
      fail_format(
          fmt::format("invalid language-model segment of {} bytes in chunks of {}", h.lm_segment_bytes, h.chunk_bytes));
  }
  if (flags & kFlagCanonicalWavHeader) {
    if (!h.original_header.empty()) fail_format("a stored original header where the canonical WAV header is named");
    h.original_header = canonical_wav_header(h);
    if (h.original_header.empty()) fail_format("a canonical WAV header named for a source that cannot have one");
    h.canonical_wav_header = true;
  }
  return h;
}

// Record i, or i marked damaged when its hash or fields are wrong; throws when it runs
// past the end of the file.
void read_record(ByteReader& r, ByteSpan file, ParsedStream& p, size_t i) {
  ChunkRecord& c = p.stream.chunks[i];
  size_t start = r.pos();
  uint8_t mode = r.u8();
  c.token_count = r.u32();
  uint8_t rmode = r.u8();
  uint32_t ntok = r.u32(), nres = r.u32();
  c.checksum = r.u64();
  ByteSpan tok = r.bytes(ntok), res = r.bytes(nres);
  uint64_t want = hash64(file.subspan(start, r.pos() - start));
  const bool stored = mode == kStoredMode;
  const bool audio_coded = codes_bits(static_cast<TokenMode>(mode));
  if (!checksum_matches(r.u64(), want) || mode > static_cast<uint8_t>(TokenMode::Mixed) || rmode > 1 ||
      (stored && (c.token_count != 0 || nres != 0)) || (audio_coded && (nres != 0 || rmode != 0))) {
    p.damaged.push_back(i);
    return;
  }
  c.stored = stored;
  c.mode = stored ? TokenMode::Char : static_cast<TokenMode>(mode);
  c.residual_mode = static_cast<ResidualMode>(rmode);
  c.tokens.assign(tok.begin(), tok.end());
  c.residual.assign(res.begin(), res.end());
}

// The footer; a wrong stream hash or trailing bytes go to end_damage (the records are
// each checked by their own hashes).
void read_footer(ByteReader& r, ByteSpan file, ParsedStream& p) {
  p.stream.data_checksum = r.u64();
  ByteSpan end = r.bytes(4);
  if (std::memcmp(end.data(), kEndMagic, 4) != 0) fail_format("bad end marker (corrupted stream)");
  uint64_t file_hash = hash64(file.subspan(0, r.pos()));
  uint64_t stored = r.u64();
  if (r.remaining() != 0)
    p.end_damage = "trailing bytes after the end of the stream";
  else if (!checksum_matches(stored, file_hash) && p.damaged.empty())
    p.end_damage = "stream checksum mismatch (corrupted file)";
}

}  // namespace

Bytes write_lmac(const LmacStream& s) {
  Bytes out;
  ByteWriter w(out);
  w.bytes(ByteSpan(kMagic, 8));
  w.u16(kFormatVersion);
  const bool canonical = header_is_canonical(s.header);
  w.u16(static_cast<uint16_t>((s.header.lm_segment_bytes ? kFlagLmSegments : 0) |
                              (canonical ? kFlagCanonicalWavHeader : 0)));
  size_t header_start = out.size();
  w.u16(s.header.arithmetic_revision);
  write_header(w, s.header, canonical);
  w.u64(hash64(ByteSpan(out).subspan(header_start)));
  for (const ChunkRecord& c : s.chunks) {
    size_t start = out.size();
    w.u8(c.stored ? kStoredMode : static_cast<uint8_t>(c.mode));
    w.u32(c.token_count);
    w.u8(static_cast<uint8_t>(c.residual_mode));
    w.u32(c.tokens.size());
    w.u32(c.residual.size());
    w.u64(c.checksum);
    w.bytes(c.tokens);
    w.bytes(c.residual);
    w.u64(hash64(ByteSpan(out).subspan(start)));
  }
  w.u64(s.data_checksum);
  w.bytes(ByteSpan(kEndMagic, 4));
  w.u64(hash64(out));
  return out;
}

ParsedStream parse_lmac(ByteSpan file, bool keep_going) {
  ByteReader r(file, ".lmac stream");
  if (file.size() < 8 || std::memcmp(file.data(), kMagic, 8) != 0) fail_format("not an .lmac file (bad magic)");
  r.bytes(8);
  uint16_t version = r.u16();
  if (version == 1)  // format 1 had no revision field; its last engine was revision 3
    fail_format(
        fmt::format("made by engine arithmetic revision 3 (format version 1); this lmac implements revision "
                    "{} only: decode it with an lmac of revision 3",
                    kArithmeticRevision));
  if (version != kFormatVersion)
    fail_format(fmt::format("unsupported .lmac version {} (this lmac reads version {})", version, kFormatVersion));
  const uint16_t flags = r.u16();
  if (flags & ~(kFlagLmSegments | kFlagCanonicalWavHeader))
    fail_format(fmt::format("unknown header flags {:#x}", flags));
  ParsedStream p;
  size_t header_start = r.pos();
  const uint16_t revision = r.u16();
  if (revision != kArithmeticRevision)
    fail_format(
        fmt::format("made by engine arithmetic revision {}; this lmac implements revision {} only: decode "
                    "it with an lmac of revision {}",
                    revision, kArithmeticRevision, revision));
  p.stream.header = read_header(r, flags);
  uint64_t header_hash = hash64(file.subspan(header_start, r.pos() - header_start));
  if (!checksum_matches(r.u64(), header_hash)) fail_format("header checksum mismatch (corrupted header)");
  const StreamHeader& h = p.stream.header;
  if (h.chunk_count > r.remaining() / kRecordFixedBytes) fail_format("truncated .lmac stream (too few chunk records)");
  p.stream.chunks.resize(static_cast<size_t>(h.chunk_count));
  size_t i = 0;
  try {
    for (; i < p.stream.chunks.size(); ++i) read_record(r, file, p, i);
    read_footer(r, file, p);
  } catch (const FormatError& e) {
    if (!keep_going) throw;
    for (; i < p.stream.chunks.size(); ++i) p.damaged.push_back(i);  // records past the damage cannot be found
    p.end_damage = e.what();
  }
  if (!p.end_damage.empty() && !keep_going) fail_format(p.end_damage);
  return p;
}

uint64_t record_bytes(const ChunkRecord& c) { return kRecordFixedBytes + c.tokens.size() + c.residual.size(); }

}  // namespace lmac
