// Weights in the CPU backend's own memory, shared by content. Decoding reads every
// weight once per step, so the memory is asked for in transparent huge pages: with
// 4 KiB pages, streaming walks the page tables once every 4 KiB (measured, 1.1B shape,
// 2 threads, decoding one sequence: Q8_0 35-39 -> 44-46 tok/s, Q4_K 66-76 -> 83-91).
#include "lmac/lm/detail/cpu_packed.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <tuple>

#include "lmac/common/hash.hpp"
#include "lmac/common/parallel.hpp"

namespace lmac::cpu {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

}  // namespace

StreamedBytes::StreamedBytes(size_t bytes) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE)), size = round_up(std::max<size_t>(bytes, 1), page);
  const size_t align = size >= kHugePage ? kHugePage : page;
  // Map align - page more, then give back what lies before the boundary and after the end.
  void* p = ::mmap(nullptr, size + align - page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  const auto at = reinterpret_cast<uintptr_t>(p), start = round_up(at, align);
  auto* base = static_cast<uint8_t*>(p);
  if (start > at) ::munmap(base, start - at);
  data_ = base + (start - at);
  if (const size_t tail = align - page - (start - at); tail > 0) ::munmap(data_ + size, tail);
  mapped_ = size;
  if (size >= kHugePage) ::madvise(data_, size, MADV_HUGEPAGE);  // advice: failure is harmless
}

StreamedBytes::~StreamedBytes() { ::munmap(data_, mapped_); }

std::shared_ptr<const PackedTiles> pack_once(const Matrix& w, PackedLayout layout, size_t tile_bytes, int threads,
                                             const std::function<void(size_t, size_t, uint8_t*)>& pack_tile) {
  // Keyed by the tensor's contents (its content id, else a hash of its bytes): an
  // address alone could be another tensor's by now.
  const uint64_t key = w.content_id != 0 ? w.content_id : hash64(w.data, w.bytes());
  static std::mutex lock;
  static std::map<std::tuple<uint64_t, GgmlType, size_t, size_t, PackedLayout>, std::weak_ptr<const PackedTiles>> made;
  std::lock_guard guard(lock);
  std::erase_if(made, [](const auto& e) { return e.second.expired(); });
  auto& slot = made[{key, w.type, w.rows, w.cols, layout}];
  if (auto p = slot.lock()) return p;
  const size_t tiles = (w.rows + kPackedTileRows - 1) / kPackedTileRows;
  auto p = std::make_shared<PackedTiles>(w.rows, w.cols, tile_bytes, tiles);
  uint8_t* out = p->data.get();
  parallel_for_each(threads, tiles, [&](size_t t) {
    pack_tile(t * kPackedTileRows, std::min(kPackedTileRows, w.rows - t * kPackedTileRows), out + t * tile_bytes);
  });
  slot = p;
  return p;
}

std::shared_ptr<const PackedTiles> copy_rows(const Matrix& w, int threads) {
  if (w.bytes() < kHugePage) return nullptr;  // no whole huge page: the mapping serves as well
  const size_t tile_bytes = kPackedTileRows * w.row_bytes;
  return pack_once(w, PackedLayout::StoredRows, tile_bytes, threads, [&](size_t j0, size_t nj, uint8_t* out) {
    std::memcpy(out, w.data + j0 * w.row_bytes, nj * w.row_bytes);
    std::memset(out + nj * w.row_bytes, 0, tile_bytes - nj * w.row_bytes);
  });
}

}  // namespace lmac::cpu
