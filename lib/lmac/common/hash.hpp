// Checksums (xxHash, from libxxhash): XXH3-64 for chunks and streams.
#pragma once

#include <cstdint>

#include "lmac/common/bytes.hpp"

namespace lmac {

uint64_t hash64(ByteSpan data);
uint64_t hash64(const void* data, size_t size);

// Whether a recorded checksum (or model fingerprint) matches the computed one. The fuzz
// build (LMAC_FUZZING_NO_CHECKSUMS, as zstd's FUZZING_BUILD_MODE) accepts every one, so
// hostile bytes reach the arithmetic decoder, the detokenizer and the deserializer.
inline bool checksum_matches(uint64_t recorded, uint64_t computed) {
#ifdef LMAC_FUZZING_NO_CHECKSUMS
  (void)recorded, (void)computed;
  return true;
#else
  return recorded == computed;
#endif
}

// Streaming XXH3-64, for hashing data that arrives in pieces.
class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  void update(const void* data, size_t size);
  void update(ByteSpan data) { update(data.data(), data.size()); }
  uint64_t digest() const;

 private:
  void* state_;
};

}  // namespace lmac
