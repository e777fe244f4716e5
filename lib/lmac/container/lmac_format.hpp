// The .lmac container: writes version 3, reads versions 2 and 3 (docs/FORMAT.md is the
// normative description).
// Parsing is strict: every length is checked against the bytes present before it is
// used, so hostile input can neither crash the parser nor make it over-allocate.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lmac/audio/audio_file.hpp"
#include "lmac/coding/residual_coder.hpp"
#include "lmac/coding/token_mode.hpp"
#include "lmac/common/arithmetic_revision.hpp"
#include "lmac/common/bytes.hpp"
#include "lmac/serial/options.hpp"

namespace lmac {

constexpr uint16_t kFormatVersion = 3;  // what write_lmac writes

struct StreamHeader {
  uint16_t arithmetic_revision = kArithmeticRevision;  // docs/ARITHMETIC.md
  Container container = Container::Raw;
  PcmFormat format;
  SerialOptions serial;
  uint32_t chunk_bytes = 2048;
  TokenMode tokenization = TokenMode::Subword;  // requested; each chunk records its own
  std::string model_name;
  uint64_t model_fingerprint = 0;
  Bytes original_header;   // file bytes before the samples
  Bytes original_trailer;  // file bytes after the samples
  uint64_t data_bytes = 0;
  uint64_t chunk_count = 0;
  // Mixed chunks longer than the language model's context: it starts afresh (BOS) every
  // this many bytes of a chunk, while the audio model runs through the whole chunk. 0:
  // it sees each chunk whole. Written only when non-zero (header flag bit 0).
  uint32_t lm_segment_bytes = 0;
  // Set by parse_lmac: the stream did not store original_header, the canonical WAV header
  // of the fields (header flag bit 1; write_lmac sets the flag wherever that holds).
  bool canonical_wav_header = false;
};

struct ChunkRecord {
  // Stored: the chunk's PCM bytes as they are (in `tokens`), when coding would not make
  // them smaller; token_count 0, no residual. Otherwise coded in `mode`.
  bool stored = false;
  TokenMode mode = TokenMode::Char;
  uint32_t token_count = 0;
  ResidualMode residual_mode = ResidualMode::Packed;
  Bytes tokens;           // arithmetic-coded tokens
  Bytes residual;         // coded residual bits
  uint64_t checksum = 0;  // XXH3-64 of the chunk's original PCM bytes
  // The bits of `checksum` known: 64 where the encoder made it (and in version 2 streams),
  // its low 32 where it was read from a version 3 stream, which stores no more.
  int checksum_bits = 64;
};

// A stream's container from its first kContainerPeekBytes bytes alone (what an output
// file is to be named for); nullopt where they are no .lmac stream of a version read.
constexpr size_t kContainerPeekBytes = 15;
std::optional<Container> peek_container(ByteSpan head);

// Whether decoded PCM bytes are the chunk's, by the bits of its checksum known.
bool chunk_checksum_matches(const ChunkRecord& record, ByteSpan pcm);

struct LmacStream {
  StreamHeader header;
  std::vector<ChunkRecord> chunks;
  uint64_t data_checksum = 0;  // XXH3-64 of all PCM bytes
};

Bytes write_lmac(const LmacStream& stream);
// Bytes a chunk's record takes in a stream write_lmac writes: mode, lengths, tokens,
// residual, checksum and hash.
uint64_t record_bytes(const ChunkRecord& record);

// A parsed stream; chunks whose record checksum fails are listed in `damaged`
// (indices) instead of aborting, so the rest can still be decoded on request.
struct ParsedStream {
  LmacStream stream;
  uint16_t version = kFormatVersion;  // the stream's format version
  std::vector<size_t> damaged;
  // keep_going only: what is wrong after the records (truncated stream, bad footer or
  // stream hash, trailing bytes); empty when the end of the stream is intact.
  std::string end_damage;
};
// keep_going: damage after the header (cut or corrupted records, footer, stream hash,
// trailing bytes) marks chunks damaged and sets end_damage instead of throwing, so that
// every intact chunk can still be decoded.
ParsedStream parse_lmac(ByteSpan file, bool keep_going = false);

}  // namespace lmac
