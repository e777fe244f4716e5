#include "lmac/lm/gguf.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lmac {
namespace {

constexpr int kMaxNesting = 8;

// Bounds-checked cursor over the mapped file; all reads past the end are FormatErrors.
class Cursor {
 public:
  Cursor(const uint8_t* p, uint64_t n) : p_(p), n_(n) {}
  uint64_t pos() const { return pos_; }
  uint64_t left() const { return n_ - pos_; }
  uint64_t uint(int width, const char* what) {
    if (left() < static_cast<uint64_t>(width)) fail_format(fmt::format("truncated file while reading {}", what));
    uint64_t v = load_le(p_ + pos_, width);
    pos_ += static_cast<uint64_t>(width);
    return v;
  }
  std::string str(int len_width, const char* what) {
    uint64_t len = uint(len_width, what);
    if (len > left()) fail_format(fmt::format("{} claims {} bytes but only {} remain", what, len, left()));
    std::string s(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return s;
  }

 private:
  const uint8_t* p_;
  uint64_t n_;
  uint64_t pos_ = 0;
};

int scalar_width(GgufType t) {
  switch (t) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::Bool:
      return 1;
    case GgufType::U16:
    case GgufType::I16:
      return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32:
      return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64:
      return 8;
    default:
      return 0;
  }
}

GgufType read_type(Cursor& c, const std::string& key) {
  uint64_t t = c.uint(4, "a value type");
  if (t > 12) fail_format(fmt::format("key '{}' has invalid value type {}", key, t));
  return static_cast<GgufType>(t);
}

GgufValue read_value(Cursor& c, GgufType type, int len_width, const std::string& key, int depth) {
  GgufValue v;
  v.type = type;
  if (type == GgufType::String) {
    v.v = c.str(len_width, "a string value");
    return v;
  }
  if (type == GgufType::Array) {
    if (depth >= kMaxNesting) fail_format(fmt::format("key '{}' nests arrays too deeply", key));
    v.elem_type = read_type(c, key);
    uint64_t n = c.uint(len_width, "an array length");
    // Every element takes at least one byte (strings: their length field), so a
    // count larger than the bytes left is a lie: refuse before allocating.
    int min_elem = v.elem_type == GgufType::String  ? len_width
                   : v.elem_type == GgufType::Array ? 4 + len_width
                                                    : scalar_width(v.elem_type);
    if (n > c.left() / static_cast<uint64_t>(std::max(min_elem, 1)))
      fail_format(fmt::format("key '{}' claims {} array elements, more than the file holds", key, n));
    auto arr = std::make_shared<GgufArray>();
    arr->reserve(static_cast<size_t>(n));
    for (uint64_t i = 0; i < n; ++i) arr->push_back(read_value(c, v.elem_type, len_width, key, depth + 1));
    v.v = std::move(arr);
    return v;
  }
  uint64_t raw = c.uint(scalar_width(type), "a value");
  switch (type) {
    case GgufType::I8:
      v.v = static_cast<int64_t>(static_cast<int8_t>(raw));
      break;
    case GgufType::I16:
      v.v = static_cast<int64_t>(static_cast<int16_t>(raw));
      break;
    case GgufType::I32:
      v.v = static_cast<int64_t>(static_cast<int32_t>(raw));
      break;
    case GgufType::I64:
      v.v = static_cast<int64_t>(raw);
      break;
    case GgufType::F32: {
      float f;
      uint32_t r32 = static_cast<uint32_t>(raw);
      std::memcpy(&f, &r32, 4);
      v.v = static_cast<double>(f);
      break;
    }
    case GgufType::F64: {
      double d;
      std::memcpy(&d, &raw, 8);
      v.v = d;
      break;
    }
    case GgufType::Bool:
      if (raw > 1) fail_format(fmt::format("key '{}' has a bool that is neither 0 nor 1", key));
      v.v = raw == 1;
      break;
    default:
      v.v = raw;
      break;
  }
  return v;
}

// A tensor's entry in the header: name, shape, type and offset, checked (the data is
// placed once the header's end is known).
GgufTensor read_tensor_info(Cursor& c, int lw, uint64_t alignment) {
  GgufTensor t;
  t.name = c.str(lw, "a tensor name");
  uint64_t nd = c.uint(4, "tensor dimensions");
  if (nd == 0 || nd > 4) fail_format(fmt::format("tensor '{}' has {} dimensions", t.name, nd));
  for (uint64_t d = 0; d < nd; ++d) {
    uint64_t dim = c.uint(lw, "tensor dimensions");
    if (dim == 0 || dim > (1ull << 40)) fail_format(fmt::format("tensor '{}' has dimension {}", t.name, dim));
    t.dims.push_back(dim);
  }
  uint64_t type = c.uint(4, "a tensor type");
  const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(type));
  if (info == nullptr)
    fail_format(fmt::format("tensor '{}' is {}, which lmac cannot read (it reads {})", t.name,
                            ggml_unsupported_type(static_cast<uint32_t>(type)), ggml_supported_types()));
  t.type = info->type;
  t.offset = c.uint(8, "a tensor offset");
  if (t.offset % alignment) fail_format(fmt::format("tensor '{}' offset {} is not aligned", t.name, t.offset));
  uint64_t elems = 1;
  for (uint64_t d : t.dims) {
    if (elems > (1ull << 48) / d) fail_format(fmt::format("tensor '{}' is impossibly large", t.name));
    elems *= d;
  }
  if (t.dims[0] % info->block_elems)
    fail_format(fmt::format("tensor '{}' row of {} is not a whole number of {} blocks", t.name, t.dims[0], info->name));
  t.bytes = elems / info->block_elems * info->block_bytes;
  return t;
}

}  // namespace

const char* gguf_type_name(GgufType t) {
  static const char* names[] = {"u8",   "i8",  "u16", "i16", "u32", "i32", "f32",
                                "bool", "str", "arr", "u64", "i64", "f64"};
  return static_cast<uint32_t>(t) <= 12 ? names[static_cast<uint32_t>(t)] : "?";
}

bool GgufValue::is_integer() const {
  return std::holds_alternative<uint64_t>(v) || std::holds_alternative<int64_t>(v) || std::holds_alternative<bool>(v);
}
int64_t GgufValue::as_int() const {
  if (auto* u = std::get_if<uint64_t>(&v)) {
    if (*u > static_cast<uint64_t>(INT64_MAX)) fail_format("integer value out of range");
    return static_cast<int64_t>(*u);
  }
  if (auto* i = std::get_if<int64_t>(&v)) return *i;
  if (auto* b = std::get_if<bool>(&v)) return *b;
  fail_format(std::string("expected an integer, found ") + gguf_type_name(type));
}
uint64_t GgufValue::as_uint() const {
  if (auto* u = std::get_if<uint64_t>(&v)) return *u;
  int64_t i = as_int();
  if (i < 0) fail_format("expected a non-negative integer");
  return static_cast<uint64_t>(i);
}
double GgufValue::as_float() const {
  if (auto* d = std::get_if<double>(&v)) return *d;
  return static_cast<double>(as_int());
}
const std::string& GgufValue::as_string() const {
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  fail_format(std::string("expected a string, found ") + gguf_type_name(type));
}
const GgufArray& GgufValue::as_array() const {
  if (auto* a = std::get_if<std::shared_ptr<GgufArray>>(&v)) return **a;
  fail_format(std::string("expected an array, found ") + gguf_type_name(type));
}

std::string GgufValue::to_string(size_t max_elems) const {
  if (auto* a = std::get_if<std::shared_ptr<GgufArray>>(&v)) {
    std::string s = "[";
    for (size_t i = 0; i < (*a)->size() && i < max_elems; ++i) s += (i ? ", " : "") + (**a)[i].to_string(max_elems);
    if ((*a)->size() > max_elems) s += fmt::format(", ... ({} total)", (*a)->size());
    return s + "]";
  }
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  if (auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (auto* d = std::get_if<double>(&v)) return fmt::format("{}", *d);
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  return std::to_string(std::get<uint64_t>(v));
}

uint64_t GgufTensor::elements() const {
  uint64_t n = 1;
  for (uint64_t d : dims) n *= d;
  return n;
}

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("not a regular file");
  }
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ > 0) {
    void* m = ::mmap(nullptr, f->size_, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
      ::close(fd);
      fail(std::string("cannot map: ") + std::strerror(errno));
    }
    f->mapping_ = m;
    f->base_ = static_cast<const uint8_t*>(m);
  }
  ::close(fd);
  f->parse_all();
  return f;
}

std::unique_ptr<GgufFile> GgufFile::parse(ByteSpan bytes) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->base_ = bytes.data();
  f->size_ = bytes.size();
  f->parse_all();
  return f;
}

void GgufFile::release_pages(const void* p, size_t n) const {
  const auto* b = static_cast<const uint8_t*>(p);
  if (mapping_ == nullptr || b < base_ || b + n > base_ + size_) return;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  // The whole pages inside [b, b + n), reached from b (no integer becomes a pointer).
  const uintptr_t addr = reinterpret_cast<uintptr_t>(b), skip = (page - addr % page) % page;
  const uintptr_t last = (addr + n) / page * page;
  if (last > addr + skip) ::madvise(const_cast<uint8_t*>(b) + skip, last - addr - skip, MADV_DONTNEED);
}

GgufFile::~GgufFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, size_);
}

void GgufFile::parse_all() {
  Cursor c(base_, size_);
  if (size_ < 4 || std::memcmp(base_, "GGUF", 4) != 0) fail_format("not a GGUF file (bad magic)");
  c.uint(4, "the magic");
  version_ = static_cast<uint32_t>(c.uint(4, "the version"));
  if (version_ != 2 && version_ != 3) fail_format(fmt::format("unsupported GGUF version {} (2 or 3)", version_));
  const int lw = 8;  // v2 and v3 use 64-bit counts and lengths
  uint64_t n_tensors = c.uint(lw, "the header");
  uint64_t n_kv = c.uint(lw, "the header");
  if (n_kv > c.left() / 13 || n_tensors > c.left() / 24) fail_format("header counts exceed the file size");
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.str(lw, fmt::format("key {}", i).c_str());
    GgufType t = read_type(c, key);
    GgufValue v = read_value(c, t, lw, key, 0);
    if (kv_index_.count(key)) fail_format("duplicate key '" + key + "'");
    kv_index_[key] = kv_.size();
    kv_.emplace_back(std::move(key), std::move(v));
  }
  if (const GgufValue* a = find("general.alignment")) {
    alignment_ = a->as_uint();
    if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) || alignment_ > (1u << 20))
      fail_format(fmt::format("invalid general.alignment {}", alignment_));
  }
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t = read_tensor_info(c, lw, alignment_);
    if (tensor_index_.count(t.name)) fail_format("duplicate tensor '" + t.name + "'");
    tensor_index_[t.name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }
  data_offset_ = (c.pos() + alignment_ - 1) / alignment_ * alignment_;
  for (GgufTensor& t : tensors_) {
    if (data_offset_ > size_ || t.offset > size_ - data_offset_ || t.bytes > size_ - data_offset_ - t.offset)
      fail_format(
          fmt::format("tensor '{}' (offset {}, {} bytes) lies past the end of the file", t.name, t.offset, t.bytes));
    t.data = base_ + data_offset_ + t.offset;
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}
const GgufValue& GgufFile::get(const std::string& key) const {
  if (const GgufValue* v = find(key)) return *v;
  fail_format("missing metadata key '" + key + "'");
}
const GgufTensor* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}
const GgufTensor& GgufFile::tensor(const std::string& name) const {
  if (const GgufTensor* t = find_tensor(name)) return *t;
  fail_format("missing tensor '" + name + "'");
}

}  // namespace lmac
