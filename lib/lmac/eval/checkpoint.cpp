#include "lmac/eval/checkpoint.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "lmac/common/error.hpp"
#include "lmac/common/hash.hpp"

namespace lmac {
namespace {

constexpr const char* kMagic = "lmac-checkpoint-v1";

std::string hash_of(const std::string& s) {
  return fmt::format("{:016x}", hash64(ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size())));
}

// "fields... hash": the fields when the hash matches, else nothing.
bool intact(const std::string& line, std::string* fields) {
  const size_t sp = line.rfind(' ');
  if (sp == std::string::npos || line.substr(sp + 1) != hash_of(line.substr(0, sp))) return false;
  *fields = line.substr(0, sp);
  return true;
}

std::string sealed(const std::string& fields) { return fields + " " + hash_of(fields) + "\n"; }

}  // namespace

Checkpoint::Checkpoint(std::string path, std::string identity, bool create)
    : path_(std::move(path)), identity_(std::move(identity)) {
  const std::string header = sealed(std::string(kMagic) + " " + identity_);
  if (create) {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      const bool ok =
          ::write(fd, header.data(), header.size()) == static_cast<ssize_t>(header.size()) && ::fsync(fd) == 0;
      ::close(fd);
      if (!ok) fail(path_ + ": cannot write the checkpoint: " + std::strerror(errno));
      return;
    }
    if (errno != EEXIST) fail(path_ + ": cannot create the checkpoint: " + std::strerror(errno));
  }
  std::ifstream in(path_);
  std::string first;
  if (!in || !std::getline(in, first)) fail(path_ + ": cannot read the checkpoint");
  if (first + "\n" != header)
    fail(path_ +
         ": checkpoint of another evaluation (other arguments, audio, model or lmac version); "
         "remove it or name another --checkpoint");
}

Checkpoint::Finished Checkpoint::load() const {
  Finished f;
  std::ifstream in(path_);
  std::string line, fields;
  std::getline(in, line);  // the header, checked when opened
  while (std::getline(in, line)) {
    if (!intact(line, &fields)) continue;
    std::istringstream s(fields);
    std::string kind, name;
    size_t index = 0;
    s >> kind >> name >> index;
    if (kind == "c") {
      ChunkFigures c;
      if (s >> c.compressed >> c.coded_tokens >> c.residual >> c.tokens) f.chunks[{name, index}] = c;
    } else if (uint64_t bytes = 0; kind == "w" && (s >> bytes)) {
      f.wholes[{name, index}] = bytes;
    }
  }
  return f;
}

void Checkpoint::add_chunks(const std::string& compressor, std::span<const size_t> chunks,
                            std::span<const ChunkFigures> figures) {
  std::string lines;
  for (size_t k = 0; k < chunks.size(); ++k) {
    const ChunkFigures& c = figures[k];
    lines += sealed(
        fmt::format("c {} {} {} {} {} {}", compressor, chunks[k], c.compressed, c.coded_tokens, c.residual, c.tokens));
  }
  append(lines);
}

void Checkpoint::add_wholes(const std::string& compressor, std::span<const size_t> wholes,
                            std::span<const uint64_t> sizes) {
  std::string lines;
  for (size_t k = 0; k < wholes.size(); ++k)
    lines += sealed(fmt::format("w {} {} {}", compressor, wholes[k], sizes[k]));
  append(lines);
}

// One write per batch with O_APPEND: atomic on local filesystems; elsewhere the line
// hashes catch what interleaves.
void Checkpoint::append(const std::string& lines) {
  if (lines.empty()) return;
  const int fd = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
  if (fd < 0) fail(path_ + ": cannot append to the checkpoint: " + std::strerror(errno));
  // After a writer killed mid-line, start on a line of our own (the cut one is redone).
  const off_t end = ::lseek(fd, 0, SEEK_END);
  char last = '\n';
  const std::string text = end > 0 && ::pread(fd, &last, 1, end - 1) == 1 && last != '\n' ? "\n" + lines : lines;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) fail(path_ + ": cannot append to the checkpoint: " + std::strerror(errno));
}

}  // namespace lmac
