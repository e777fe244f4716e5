#include "lmac/common/hash.hpp"

#include <xxhash.h>

namespace lmac {

uint64_t hash64(const void* data, size_t size) { return XXH3_64bits(data, size); }
uint64_t hash64(ByteSpan data) { return hash64(data.data(), data.size()); }

Hasher::Hasher() : state_(XXH3_createState()) {
  if (state_ == nullptr) fail("out of memory");
  XXH3_64bits_reset(static_cast<XXH3_state_t*>(state_));
}
Hasher::~Hasher() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }
void Hasher::update(const void* data, size_t size) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(state_), data, size);
}
uint64_t Hasher::digest() const { return XXH3_64bits_digest(static_cast<XXH3_state_t*>(state_)); }

}  // namespace lmac
