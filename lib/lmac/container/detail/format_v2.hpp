// Reading version 2 streams (lmac 0.1.0 and 0.2.0), kept so that they still decode.
// Version 2 differs from 3 only in how the fields are written: fixed-width integers,
// 64-bit record checksums and hashes, a chunk count and an end marker.
#pragma once

#include <cstdint>

#include "lmac/common/bytes.hpp"
#include "lmac/container/lmac_format.hpp"

namespace lmac::detail {

// The header after the revision field, its hash included.
StreamHeader read_header_v2(ByteReader& r, ByteSpan file, size_t header_start, uint16_t flags);
// Record i, or i marked damaged when its hash or fields are wrong; throws when it runs
// past the end of the file.
void read_record_v2(ByteReader& r, ByteSpan file, ParsedStream& p, size_t i);
// The footer; a wrong stream hash or trailing bytes go to end_damage.
void read_footer_v2(ByteReader& r, ByteSpan file, ParsedStream& p);

}  // namespace lmac::detail
