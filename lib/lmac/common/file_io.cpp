#include "lmac/common/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace lmac {
namespace {

std::string os_error() { return std::strerror(errno); }

void write_all(int fd, ByteSpan data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write " + path + ": " + os_error());
    }
    done += static_cast<size_t>(n);
  }
}

Bytes read_fd(int fd, const std::string& path) {
  Bytes out;
  uint8_t buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot read: " + os_error() + " (" + path + ")");
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  return out;
}

// Whether `st` is this process's standard output (/dev/stdout, /proc/self/fd/1).
bool is_stdout(const struct stat& st) {
  struct stat out {};
  return ::fstat(STDOUT_FILENO, &out) == 0 && out.st_dev == st.st_dev && out.st_ino == st.st_ino;
}

}  // namespace

OutputKind output_kind(const std::string& path) {
  if (path == "-") return OutputKind::Stdout;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    struct stat link {};
    return ::lstat(path.c_str(), &link) == 0 ? OutputKind::Dangling : OutputKind::New;
  }
  if (S_ISDIR(st.st_mode)) return OutputKind::Directory;
  if (is_stdout(st)) return OutputKind::Stdout;
  return S_ISREG(st.st_mode) ? OutputKind::File : OutputKind::Device;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

Bytes read_file(const std::string& path) {
  if (path == "-") return read_fd(STDIN_FILENO, "stdin");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open: " + os_error());
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    fail("is a directory");
  }
  Bytes out;
  try {
    out = read_fd(fd, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return out;
}

void write_file_atomic(const std::string& path, ByteSpan data, bool overwrite) {
  std::string target = path;  // a link's file is replaced, never the link itself
  switch (output_kind(path)) {
    case OutputKind::Directory:
      fail("cannot write output " + path + ": it is a directory");
    case OutputKind::Dangling:
      fail("cannot write output " + path + ": a link to nothing");
    case OutputKind::Stdout:  // on at its offset, whatever name it was given by
      write_all(STDOUT_FILENO, data, path == "-" ? "stdout" : path);
      return;
    case OutputKind::Device: {
      const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) fail("cannot open output " + path + ": " + os_error());
      try {
        write_all(fd, data, path);
      } catch (...) {
        ::close(fd);
        throw;
      }
      if (::close(fd) != 0) fail("cannot write " + path + ": " + os_error());
      return;
    }
    case OutputKind::File: {
      if (!overwrite) fail("output exists (use -f to overwrite)");
      std::error_code ec;
      target = std::filesystem::canonical(path, ec).string();
      if (ec) fail("cannot resolve output " + path + ": " + ec.message());
      break;
    }
    case OutputKind::New:
      break;
  }
  std::string tmp = target + ".lmac-tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot create output " + path + ": " + os_error());
  try {
    write_all(fd, data, path);
    if (::fsync(fd) != 0 && errno != EINVAL) fail("cannot sync output " + path + ": " + os_error());
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    std::string err = os_error();
    ::unlink(tmp.c_str());
    fail("cannot rename output into place: " + err);
  }
}

}  // namespace lmac
