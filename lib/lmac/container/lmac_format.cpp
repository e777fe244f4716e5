#include "lmac/container/lmac_format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "lmac/common/hash.hpp"
#include "lmac/container/detail/format_v2.hpp"
#include "lmac/container/detail/stream_fields.hpp"

namespace lmac {
namespace {

using detail::enum_field;
using detail::kFlagCanonicalWavHeader;
using detail::kFlagLmSegments;
using detail::kStoredMode;

constexpr uint8_t kMagic[8] = {'L', 'M', 'A', 'C', 0x0D, 0x0A, 0x1A, 0x0A};
// The fewest bytes a record takes (mode, checksum, hash), so that a chunk count larger
// than the bytes left can hold is refused before anything is allocated for it.
constexpr size_t kMinRecordBytes = 1 + 4 + 4;

uint32_t low32(uint64_t v) { return static_cast<uint32_t>(v); }
uint32_t hash32(ByteSpan b) { return low32(hash64(b)); }

size_t varint_bytes(uint64_t v) {
  size_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

template <typename T>
T narrow_field(uint64_t v, const char* what) {
  if (v > std::numeric_limits<T>::max()) fail_format(fmt::format("invalid {} ({})", what, v));
  return static_cast<T>(v);
}

// Whether a record writes its token count and residual (char and subword chunks); the
// other modes imply them.
bool has_token_fields(const ChunkRecord& c) { return !c.stored && !codes_bits(c.mode); }

uint64_t chunk_size(const StreamHeader& h, size_t i) {
  return std::min<uint64_t>(h.chunk_bytes, h.data_bytes - static_cast<uint64_t>(i) * h.chunk_bytes);
}

// The two packed bytes of a version 3 header: the sample format's and the serializer's
// small fields (docs/FORMAT.md).
void write_packed_fields(ByteWriter& w, const StreamHeader& h) {
  w.u8(static_cast<unsigned>(h.container) | static_cast<unsigned>(h.format.kind) << 2 |
       static_cast<unsigned>(h.format.big_endian) << 4 | static_cast<unsigned>(h.serial.mapping) << 5 |
       static_cast<unsigned>(h.serial.byte_order) << 6 | static_cast<unsigned>(h.serial.offset_binary) << 7);
  w.u8(static_cast<unsigned>(h.serial.layout) | static_cast<unsigned>(h.tokenization) << 2);
}

void read_packed_fields(ByteReader& r, StreamHeader& h) {
  const uint8_t a = r.u8(), b = r.u8();
  h.container = static_cast<Container>(a & 3);
  h.format.kind = enum_field<SampleKind>(a >> 2 & 3, 2, "sample kind");
  h.format.big_endian = (a >> 4 & 1) != 0;
  h.serial.mapping = static_cast<Mapping>(a >> 5 & 1);
  h.serial.byte_order = static_cast<ByteOrder>(a >> 6 & 1);
  h.serial.offset_binary = (a >> 7) != 0;
  h.serial.layout = enum_field<Layout>(b & 3, 2, "layout");
  h.tokenization = static_cast<TokenMode>(b >> 2 & 1);
  if (b >> 3) fail_format(fmt::format("reserved header bits set ({:#x})", b));
}

// canonical: the original header is the canonical WAV header of the fields (flag bit 1).
void write_header(ByteWriter& w, const StreamHeader& h, bool canonical) {
  write_packed_fields(w, h);
  w.u8(h.format.bits);
  w.varint(h.format.channels);
  w.varint(h.format.rate);
  w.varint(h.serial.block_n);
  w.varint(h.chunk_bytes);
  w.vblob(ByteSpan(reinterpret_cast<const uint8_t*>(h.model_name.data()), h.model_name.size()));
  w.u64(h.model_fingerprint);
  w.vblob(canonical ? ByteSpan{} : ByteSpan(h.original_header));
  w.vblob(h.original_trailer);
  w.varint(h.data_bytes);
  if (h.lm_segment_bytes) w.varint(h.lm_segment_bytes);
}

StreamHeader read_header(ByteReader& r, ByteSpan file, size_t header_start, uint16_t flags) {
  StreamHeader h;
  read_packed_fields(r, h);
  h.format.bits = r.u8();
  h.format.channels = narrow_field<uint16_t>(r.varint(), "channel count");
  h.format.rate = narrow_field<uint32_t>(r.varint(), "sample rate");
  h.serial.block_n = narrow_field<uint32_t>(r.varint(), "block size");
  h.chunk_bytes = narrow_field<uint32_t>(r.varint(), "chunk size");
  const ByteSpan name = r.vblob();
  h.model_name.assign(name.begin(), name.end());
  h.model_fingerprint = r.u64();
  const ByteSpan hb = r.vblob();
  h.original_header.assign(hb.begin(), hb.end());
  const ByteSpan tb = r.vblob();
  h.original_trailer.assign(tb.begin(), tb.end());
  h.data_bytes = r.varint();
  if (flags & kFlagLmSegments) h.lm_segment_bytes = narrow_field<uint32_t>(r.varint(), "language-model segment");
  detail::finish_header(h, flags);
  h.chunk_count = (h.data_bytes + h.chunk_bytes - 1) / h.chunk_bytes;
  const uint32_t header_hash = hash32(file.subspan(header_start, r.pos() - header_start));
  if (!checksum_matches(r.u32(), header_hash)) fail_format("header checksum mismatch (corrupted header)");
  return h;
}

// A record's fields must say what the format can hold: its length fields are implied
// for stored and audio-coded chunks, so a record that contradicts them is a bug upstream
// that would lose data, not a stream to write.
void check_record(const ChunkRecord& c, uint64_t size, size_t i) {
  const bool ok = c.stored ? c.tokens.size() == size && c.token_count == 0 && c.residual.empty()
                           : !codes_bits(c.mode) || (c.token_count == size && c.residual.empty() &&
                                                     c.residual_mode == ResidualMode::Packed);
  if (!ok) throw std::logic_error(fmt::format("chunk record {} cannot be written: its fields contradict its mode", i));
}

void write_record(ByteWriter& w, Bytes& out, const ChunkRecord& c) {
  const size_t start = out.size();
  const bool tokens_mode = has_token_fields(c);
  const unsigned mode = c.stored ? kStoredMode : static_cast<unsigned>(c.mode);
  w.u8(mode | (tokens_mode ? static_cast<unsigned>(c.residual_mode) << 3 : 0));
  if (tokens_mode) {
    w.varint(c.token_count);
    w.varint(c.tokens.size());
    w.varint(c.residual.size());
  } else if (!c.stored) {
    w.varint(c.tokens.size());
  }
  w.u32(low32(c.checksum));
  w.bytes(c.tokens);
  w.bytes(c.residual);
  w.u32(hash32(ByteSpan(out).subspan(start)));
}

// Record i, or i marked damaged when its hash or fields are wrong; throws when it runs
// past the end of the file.
void read_record(ByteReader& r, ByteSpan file, ParsedStream& p, size_t i) {
  ChunkRecord& c = p.stream.chunks[i];
  const uint64_t size = chunk_size(p.stream.header, i);
  const size_t start = r.pos();
  const uint8_t byte = r.u8();
  const uint8_t mode = byte & 7, rmode = byte >> 3;
  uint64_t count = 0, ntok = size, nres = 0;
  if (mode <= 1)
    count = r.varint(), ntok = r.varint(), nres = r.varint();
  else if (mode != kStoredMode)
    count = size, ntok = r.varint();
  c.token_count = static_cast<uint32_t>(std::min<uint64_t>(count, UINT32_MAX));
  c.checksum = r.u32();
  c.checksum_bits = 32;
  const ByteSpan tok = r.bytes(ntok), res = r.bytes(nres);
  const uint32_t want = hash32(file.subspan(start, r.pos() - start));
  if (!checksum_matches(r.u32(), want) || count > UINT32_MAX || (rmode != 0 && mode > 1) ||
      !detail::accept_record(c, mode, rmode, tok, res))
    p.damaged.push_back(i);
}

// The footer; a wrong stream hash or trailing bytes go to end_damage (the records are
// each checked by their own hashes).
void read_footer(ByteReader& r, ByteSpan file, ParsedStream& p) {
  p.stream.data_checksum = r.u64();
  const uint32_t file_hash = hash32(file.subspan(0, r.pos()));
  const uint32_t stored = r.u32();
  detail::note_stream_end(r, checksum_matches(stored, file_hash), p);
}

uint16_t read_version(ByteReader& r) {
  const uint16_t version = r.u16();
  if (version == 1)  // format 1 had no revision field; its last engine was revision 3
    fail_format(
        fmt::format("made by engine arithmetic revision 3 (format version 1); this lmac implements revision "
                    "{} only: decode it with an lmac of revision 3",
                    kArithmeticRevision));
  if (version != 2 && version != kFormatVersion)
    fail_format(
        fmt::format("unsupported .lmac version {} (this lmac reads versions 2 and {})", version, kFormatVersion));
  return version;
}

void read_revision(ByteReader& r) {
  const uint16_t revision = r.u16();
  if (revision != kArithmeticRevision)
    fail_format(
        fmt::format("made by engine arithmetic revision {}; this lmac implements revision {} only: decode "
                    "it with an lmac of revision {}",
                    revision, kArithmeticRevision, revision));
}

// How one format version lays out what follows the revision field.
struct VersionReader {
  StreamHeader (*header)(ByteReader&, ByteSpan file, size_t header_start, uint16_t flags);
  void (*record)(ByteReader&, ByteSpan file, ParsedStream&, size_t i);
  void (*footer)(ByteReader&, ByteSpan file, ParsedStream&);
};
constexpr VersionReader kVersion2{detail::read_header_v2, detail::read_record_v2, detail::read_footer_v2};
constexpr VersionReader kVersion3{read_header, read_record, read_footer};

}  // namespace

Bytes write_lmac(const LmacStream& s) {
  const StreamHeader& h = s.header;
  Bytes out;
  ByteWriter w(out);
  w.bytes(ByteSpan(kMagic, 8));
  w.u16(kFormatVersion);
  const bool canonical = !h.original_header.empty() && h.original_header == detail::canonical_wav_header(h);
  w.u16(static_cast<uint16_t>((h.lm_segment_bytes ? kFlagLmSegments : 0) | (canonical ? kFlagCanonicalWavHeader : 0)));
  const size_t header_start = out.size();
  w.u16(h.arithmetic_revision);
  write_header(w, h, canonical);
  w.u32(hash32(ByteSpan(out).subspan(header_start)));
  for (size_t i = 0; i < s.chunks.size(); ++i) {
    check_record(s.chunks[i], chunk_size(h, i), i);
    write_record(w, out, s.chunks[i]);
  }
  w.u64(s.data_checksum);
  w.u32(hash32(out));
  return out;
}

ParsedStream parse_lmac(ByteSpan file, bool keep_going) {
  ByteReader r(file, ".lmac stream");
  if (file.size() < 8 || std::memcmp(file.data(), kMagic, 8) != 0) fail_format("not an .lmac file (bad magic)");
  r.bytes(8);
  const uint16_t version = read_version(r);
  const uint16_t flags = r.u16();
  if (flags & ~(kFlagLmSegments | kFlagCanonicalWavHeader))
    fail_format(fmt::format("unknown header flags {:#x}", flags));
  ParsedStream p;
  p.version = version;
  const VersionReader& layout = version == 2 ? kVersion2 : kVersion3;
  const size_t header_start = r.pos();
  read_revision(r);
  p.stream.header = layout.header(r, file, header_start, flags);
  const StreamHeader& h = p.stream.header;
  if (h.chunk_count > r.remaining() / kMinRecordBytes) fail_format("truncated .lmac stream (too few chunk records)");
  p.stream.chunks.resize(static_cast<size_t>(h.chunk_count));
  size_t i = 0;
  try {
    for (; i < p.stream.chunks.size(); ++i) layout.record(r, file, p, i);
    layout.footer(r, file, p);
  } catch (const FormatError& e) {
    if (!keep_going) throw;
    for (; i < p.stream.chunks.size(); ++i) p.damaged.push_back(i);  // records past the damage cannot be found
    p.end_damage = e.what();
  }
  if (!p.end_damage.empty() && !keep_going) fail_format(p.end_damage);
  return p;
}

uint64_t record_bytes(const ChunkRecord& c) {
  const uint64_t lengths = has_token_fields(c) ? varint_bytes(c.token_count) + varint_bytes(c.tokens.size()) +
                                                     varint_bytes(c.residual.size())
                           : c.stored ? 0
                                      : varint_bytes(c.tokens.size());
  return 1 + lengths + 4 + c.tokens.size() + c.residual.size() + 4;
}

std::optional<Container> peek_container(ByteSpan head) {
  if (head.size() < kContainerPeekBytes || std::memcmp(head.data(), kMagic, 8) != 0) return std::nullopt;
  const uint64_t version = load_le(head.data() + 8, 2);
  if (version != 2 && version != kFormatVersion) return std::nullopt;
  // after magic, version, flags and revision: version 2's container byte, or version 3's
  // format byte with the container in its low bits
  const uint8_t container = version == 2 ? head[14] : head[14] & 3;
  if (container > static_cast<uint8_t>(Container::Decoded)) return std::nullopt;
  return static_cast<Container>(container);
}

bool chunk_checksum_matches(const ChunkRecord& c, ByteSpan pcm) {
  const uint64_t h = hash64(pcm);
  return checksum_matches(c.checksum, c.checksum_bits == 32 ? low32(h) : h);
}

}  // namespace lmac
