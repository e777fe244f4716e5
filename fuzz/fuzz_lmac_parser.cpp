// Feeds arbitrary bytes to the .lmac parser and, when they parse, to the decoder with
// the built-in model: neither may crash, hang or over-allocate.
#include <cstddef>
#include <cstdint>

#include "lmac/codec/file_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto model = lmac::make_builtin_order2();
  try {
    lmac::ParsedStream p = lmac::parse_lmac(lmac::ByteSpan(data, size));
    if (p.stream.header.data_bytes > (1u << 16)) return 0;  // keep each run short
    lmac::decompress_audio(*model, p, {}, true);
  } catch (const lmac::Error&) {
  }
  return 0;
}
