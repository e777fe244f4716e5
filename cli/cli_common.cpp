#include "cli_common.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "lmac/common/error.hpp"
#include "lmac/common/file_io.hpp"

namespace lmac::cli {

Globals& globals() {
  static Globals g;
  return g;
}

std::function<int()>& action() {
  static std::function<int()> a;
  return a;
}

int thread_count() {
  int t = globals().threads;
  return t > 0 ? t : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

void report_error(const std::string& file, const std::string& reason) {
  std::string line = file.empty() ? reason : file + ": " + reason;
  for (char& c : line)
    if (c == '\n') c = ' ';
  fmt::print(stderr, "lmac: {}\n", line);
}

void note(const std::string& m) {
  if (globals().verbosity >= 1) fmt::print(stderr, "{}\n", m);
}
void verbose(const std::string& m) {
  if (globals().verbosity >= 2) fmt::print(stderr, "{}\n", m);
}

std::function<void(size_t, size_t)> progress(const std::string& label) {
  if (globals().verbosity < 1 || !::isatty(STDERR_FILENO)) return {};
  return [label](size_t done, size_t total) {
    fmt::print(stderr, "\r{}: {}/{} chunks ({:.0f}%)", label, done, total, total ? 100.0 * done / total : 100.0);
    if (done == total) fmt::print(stderr, "\n");
  };
}

std::string default_model_spec() {
  if (const char* env = std::getenv("LMAC_MODEL"); env && *env) return env;
  const char* name = "tinyllama-text-15m-q8_0.gguf";
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  for (const std::filesystem::path& dir :
       {exe.parent_path() / "../share/lmac/models", exe.parent_path() / "../../models", exe.parent_path() / "../models",
        std::filesystem::path(LMAC_SOURCE_DIR) / "models"}) {
    if (std::filesystem::exists(dir / name, ec)) return (dir / name).lexically_normal().string();
  }
  return "builtin:order2";
}

Bytes read_input(const std::string& path) {
  try {
    return read_file(path);
  } catch (const Error& e) {
    throw Error((path == "-" ? std::string("stdin") : path) + ": " + e.what());
  }
}

CLI::Validator at_least(long long least) {
  return CLI::Validator(
      [least](std::string& value) -> std::string {
        long long v = 0;
        size_t used = 0;
        try {
          v = std::stoll(value, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != value.size() || v < least)
          return "'" + value + "' is not a whole number of at least " + std::to_string(least);
        return {};
      },
      least > 0 ? "POSITIVE" : "NONNEGATIVE");
}

}  // namespace lmac::cli
