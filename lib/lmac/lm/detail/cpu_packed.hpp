// Weights the CPU backend keeps in memory of its own, once per tensor and process: tiles
// repacked for a kernel (Q8_0, K-quants), or the rows as stored, moved into memory that
// suits streaming (transparent huge pages) for the kernels that read stored rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "lmac/lm/backend.hpp"

namespace lmac::cpu {

// The kernels' tiles hold 16 weight rows.
constexpr size_t kPackedTileRows = 16;

// What a PackedTiles holds; part of the key that shares it, so that a process that
// changes its SIMD level never reads one layout as another.
enum class PackedLayout { StoredRows, Q8Tiles, KqTiles };

// Memory of its own mapping, returned to the system when freed (heap blocks this large
// would stay in the allocator's arena after a session ends). From 2 MiB on it starts on
// a huge-page boundary and asks for transparent huge pages.
class StreamedBytes {
 public:
  explicit StreamedBytes(size_t bytes);
  ~StreamedBytes();
  StreamedBytes(const StreamedBytes&) = delete;
  StreamedBytes& operator=(const StreamedBytes&) = delete;
  uint8_t* get() const { return data_; }

 private:
  uint8_t* data_ = nullptr;
  size_t mapped_ = 0;
};

// Tiles of 16 rows (the last one padded), tile_bytes each, page aligned. Shared by
// every CPU backend of the process that computes on the same tensor (one session per
// thread would otherwise copy the model once per thread).
struct PackedTiles {
  PackedTiles(size_t n_rows, size_t n_cols, size_t bytes_a_tile, size_t tiles)
      : rows(n_rows), cols(n_cols), tile_bytes(bytes_a_tile), bytes(tiles * bytes_a_tile), data(bytes) {}
  size_t rows = 0, cols = 0, tile_bytes = 0;
  size_t bytes = 0;  // of data
  StreamedBytes data;
};

// w's tiles in `layout`, made by pack_tile(j0, nj, out) for rows [j0, j0 + nj) on
// `threads` threads unless the process holds them already (keyed by the tensor's
// contents, type and shape, and the layout).
std::shared_ptr<const PackedTiles> pack_once(const Matrix& w, PackedLayout layout, size_t tile_bytes, int threads,
                                             const std::function<void(size_t, size_t, uint8_t*)>& pack_tile);

// w's rows as stored (PackedLayout::StoredRows: row r at r * w.row_bytes), for matrices
// whose products read stored rows and are large enough to stream from memory; null
// otherwise (then products read the file's mapping).
std::shared_ptr<const PackedTiles> copy_rows(const Matrix& w, int threads);

}  // namespace lmac::cpu
