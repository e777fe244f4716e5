// A resumable evaluation's record of finished work: one line per chunk (or whole file)
// and compressor, appended as results come in by any number of processes at once.
//
// Each line carries its own hash, so a line cut by a killed process or interleaved by a
// filesystem without atomic appends is ignored (that work is simply done again); the
// first line names the run (a hash of everything that shapes its results), so a
// checkpoint of another run is refused instead of mixed in.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>

#include "lmac/eval/evaluate.hpp"

namespace lmac {

class Checkpoint {
 public:
  // Opens `path` for the run `identity`, creating it when `create` and it is missing.
  // Throws, naming the file, when it belongs to another run or cannot be used.
  Checkpoint(std::string path, std::string identity, bool create);

  struct Finished {
    std::map<std::pair<std::string, size_t>, ChunkFigures> chunks;  // (compressor, chunk)
    std::map<std::pair<std::string, size_t>, uint64_t> wholes;      // (compressor, whole input)
  };
  // Everything recorded so far, by this process or any other.
  Finished load() const;

  void add_chunks(const std::string& compressor, std::span<const size_t> chunks, std::span<const ChunkFigures> figures);
  void add_wholes(const std::string& compressor, std::span<const size_t> wholes, std::span<const uint64_t> sizes);

 private:
  void append(const std::string& lines);

  std::string path_, identity_;
};

}  // namespace lmac
