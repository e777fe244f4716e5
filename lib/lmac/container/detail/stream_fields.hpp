// What the readers of every .lmac version share: the header flags, field checks, the
// canonical WAV header and the checks of a record's fields (docs/FORMAT.md).
#pragma once

#include <fmt/format.h>

#include <cstdint>

#include "lmac/container/lmac_format.hpp"

namespace lmac::detail {

constexpr uint8_t kStoredMode = 2;       // record mode of a stored chunk
constexpr uint16_t kFlagLmSegments = 1;  // the header ends with lm_segment_bytes
// The original header is not stored: it is make_wav_header's for the fields (most WAV
// files have exactly it, 44 bytes each).
constexpr uint16_t kFlagCanonicalWavHeader = 2;

template <typename E>
E enum_field(uint64_t v, uint8_t max, const char* what) {
  if (v > max) fail_format(fmt::format("invalid {} ({})", what, v));
  return static_cast<E>(v);
}

// The canonical WAV header of a WAV source with these samples and trailer (pad byte,
// then further chunks, which the RIFF size counts); empty where there is none.
Bytes canonical_wav_header(const StreamHeader& h);

// Checks a header's fields once they are read (every version), and restores the
// canonical WAV header where the flags name it.
void finish_header(StreamHeader& h, uint16_t flags);

// Fills a record from its fields; false (the record is damaged) where they contradict
// each other: an unknown mode, a stored chunk with tokens counted or residual bits, an
// audio-coded chunk with residual bits.
bool accept_record(ChunkRecord& c, uint8_t mode, uint8_t residual_mode, ByteSpan tokens, ByteSpan residual);

// After the stream hash (hash_ok: whether it matched): trailing bytes, or a wrong hash
// where no record was found damaged, go to end_damage.
void note_stream_end(const ByteReader& r, bool hash_ok, ParsedStream& p);

}  // namespace lmac::detail
