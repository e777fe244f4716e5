// GGUF (v2, v3) reader. The file is memory-mapped; tensors are views into the mapping,
// never copied. Every count, length and offset is checked against the file size, so a
// malformed file gives a FormatError naming the problem instead of a crash or a huge
// allocation.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "lmac/common/bytes.hpp"
#include "lmac/lm/ggml_types.hpp"

namespace lmac {

enum class GgufType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};
const char* gguf_type_name(GgufType t);

struct GgufValue;
using GgufArray = std::vector<GgufValue>;

// One metadata value: a scalar, a string, or an array (arrays may nest).
struct GgufValue {
  GgufType type = GgufType::U8;
  GgufType elem_type = GgufType::U8;  // for arrays
  std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<GgufArray>> v;

  bool is_integer() const;
  int64_t as_int() const;    // any integer type (and bool); throws otherwise
  uint64_t as_uint() const;  // non-negative integers
  double as_float() const;   // f32/f64 or integers
  const std::string& as_string() const;
  const GgufArray& as_array() const;
  std::string to_string(size_t max_elems = 16) const;  // for dumps
};

struct GgufTensor {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<uint64_t> dims;  // ne0 (fastest) first
  uint64_t offset = 0;         // within the data section
  const uint8_t* data = nullptr;
  uint64_t bytes = 0;
  uint64_t elements() const;
  uint64_t rows() const { return dims.empty() ? 1 : elements() / dims[0]; }
};

class GgufFile {
 public:
  // Maps and parses the file; throws FormatError (with the reason) or Error (I/O).
  static std::unique_ptr<GgufFile> open(const std::string& path);
  // Parses bytes already in memory (kept alive by the caller).
  static std::unique_ptr<GgufFile> parse(ByteSpan bytes);
  // Lets go of the whole pages of [p, p + n) in a mapped file (they are read back from
  // the page cache if touched again): for tensors a backend has copied. No-op otherwise.
  void release_pages(const void* p, size_t n) const;
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return size_; }
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }

  const GgufValue* find(const std::string& key) const;
  const GgufValue& get(const std::string& key) const;  // throws naming the missing key
  const GgufTensor* find_tensor(const std::string& name) const;
  const GgufTensor& tensor(const std::string& name) const;

 private:
  GgufFile() = default;
  void parse_all();
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  void* mapping_ = nullptr;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::map<std::string, size_t> kv_index_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace lmac
