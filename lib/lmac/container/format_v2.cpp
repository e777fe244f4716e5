#include "lmac/container/detail/format_v2.hpp"

#include <cstring>

#include "lmac/common/hash.hpp"
#include "lmac/container/detail/stream_fields.hpp"

namespace lmac::detail {
namespace {

constexpr uint8_t kEndMagic[4] = {'C', 'A', 'M', 'L'};

}  // namespace

StreamHeader read_header_v2(ByteReader& r, ByteSpan file, size_t header_start, uint16_t flags) {
  StreamHeader h;
  h.container = enum_field<Container>(r.u8(), 3, "container kind");
  h.format.bits = r.u16();
  h.format.channels = r.u16();
  h.format.rate = r.u32();
  h.format.kind = enum_field<SampleKind>(r.u8(), 2, "sample kind");
  h.format.big_endian = enum_field<uint8_t>(r.u8(), 1, "byte order flag") != 0;
  h.serial.mapping = enum_field<Mapping>(r.u8(), 1, "mapping");
  h.serial.byte_order = enum_field<ByteOrder>(r.u8(), 1, "byte order");
  h.serial.offset_binary = enum_field<uint8_t>(r.u8(), 1, "offset binary flag") != 0;
  h.serial.layout = enum_field<Layout>(r.u8(), 2, "layout");
  h.serial.block_n = r.u32();
  h.chunk_bytes = r.u32();
  h.tokenization = enum_field<TokenMode>(r.u8(), 1, "tokenization");
  h.model_name = r.str16();
  h.model_fingerprint = r.u64();
  ByteSpan hb = r.blob32();
  h.original_header.assign(hb.begin(), hb.end());
  ByteSpan tb = r.blob32();
  h.original_trailer.assign(tb.begin(), tb.end());
  h.data_bytes = r.u64();
  h.chunk_count = r.u64();
  if (flags & kFlagLmSegments) h.lm_segment_bytes = r.u32();
  finish_header(h, flags);
  if (h.chunk_count != (h.data_bytes + h.chunk_bytes - 1) / h.chunk_bytes)
    fail_format("chunk count does not match data size");
  const uint64_t header_hash = hash64(file.subspan(header_start, r.pos() - header_start));
  if (!checksum_matches(r.u64(), header_hash)) fail_format("header checksum mismatch (corrupted header)");
  return h;
}

void read_record_v2(ByteReader& r, ByteSpan file, ParsedStream& p, size_t i) {
  ChunkRecord& c = p.stream.chunks[i];
  const size_t start = r.pos();
  const uint8_t mode = r.u8();
  c.token_count = r.u32();
  const uint8_t rmode = r.u8();
  const uint32_t ntok = r.u32(), nres = r.u32();
  c.checksum = r.u64();
  const ByteSpan tok = r.bytes(ntok), res = r.bytes(nres);
  const uint64_t want = hash64(file.subspan(start, r.pos() - start));
  if (!checksum_matches(r.u64(), want) || !accept_record(c, mode, rmode, tok, res)) p.damaged.push_back(i);
}

void read_footer_v2(ByteReader& r, ByteSpan file, ParsedStream& p) {
  p.stream.data_checksum = r.u64();
  ByteSpan end = r.bytes(4);
  if (std::memcmp(end.data(), kEndMagic, 4) != 0) fail_format("bad end marker (corrupted stream)");
  const uint64_t file_hash = hash64(file.subspan(0, r.pos()));
  const uint64_t stored = r.u64();
  note_stream_end(r, checksum_matches(stored, file_hash), p);
}

}  // namespace lmac::detail
