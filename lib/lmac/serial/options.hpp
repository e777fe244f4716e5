// How sample bytes become 7-bit symbols (the text a language model reads).
#pragma once

#include <cstdint>
#include <string>

namespace lmac {

enum class Mapping : uint8_t {
  Shift = 0,  // symbol = byte >> 1, residual = byte & 1 (the paper's mapping)
  Mask = 1,   // symbol = byte & 0x7F, residual = byte >> 7
};

enum class ByteOrder : uint8_t {
  MsbFirst = 0,   // most significant byte of each sample first
  FileOrder = 1,  // the bytes as they lie in the file
};

enum class Layout : uint8_t {
  Interleaved = 0,  // frames as stored: L R L R ...
  Blocked = 1,      // block_n samples of each channel in turn: L L R R L L R R (block_n = 2)
  Planar = 2,       // all of channel 0 in the chunk, then channel 1, ...
};

struct SerialOptions {
  Mapping mapping = Mapping::Shift;
  ByteOrder byte_order = ByteOrder::MsbFirst;
  bool offset_binary = true;  // flip the sign bit of signed integer samples
  Layout layout = Layout::Interleaved;
  uint32_t block_n = 1;  // samples per channel per block, for Layout::Blocked

  bool operator==(const SerialOptions&) const = default;
  std::string describe() const;
};

Mapping parse_mapping(const std::string& s);
Layout parse_layout(const std::string& s, uint32_t* block_n);  // "interleaved", "planar", "blocked:N"

}  // namespace lmac
