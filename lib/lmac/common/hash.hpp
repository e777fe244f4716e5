// Checksums (xxHash, from libxxhash): XXH3-64 for chunks and streams.
#pragma once

#include <cstdint>

#include "lmac/common/bytes.hpp"

namespace lmac {

uint64_t hash64(ByteSpan data);
uint64_t hash64(const void* data, size_t size);

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
