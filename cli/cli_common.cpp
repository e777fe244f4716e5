#include "cli_common.hpp"

#include <unistd.h>

#include <chrono>
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

World& world() { return *globals().world; }

void on_rank0(World& w, const std::function<void()>& check) {
  std::exception_ptr error;
  if (w.rank() == 0) {
    try {
      check();
    } catch (...) {
      error = std::current_exception();
    }
  }
  if (w.max_all(error ? 1 : 0) == 0) return;
  if (error) std::rethrow_exception(error);
  throw QuietFailure{};
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

std::function<void(const std::string&)> codec_note(const std::string& file) {
  if (globals().verbosity < 2) return {};
  // On a terminal the line replaces a progress bar being drawn, which redraws below it.
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  return [file, tty](const std::string& line) { fmt::print(stderr, "{}{}: {}\n", tty ? "\r\033[K" : "", file, line); };
}

void draw_progress(const std::string& label, size_t done, size_t total, double seconds, double bytes,
                   const char* unit) {
  const int width = 30, filled = total ? static_cast<int>(width * done / total) : width;
  const double eta = done ? seconds * double(total - done) / double(done) : 0;
  const double rate = seconds > 0 ? bytes * double(done) / double(std::max<size_t>(total, 1)) / 1000.0 / seconds : 0;
  const std::string speed = bytes > 0 ? fmt::format(", {:.1f} KB/s", rate) : "";
  fmt::print(stderr, "\r{} [{}{}] {}/{} {}{}, {:.0f} s, ETA {:.0f} s   ", label, std::string(filled, '#'),
             std::string(width - filled, '.'), done, total, unit, speed, seconds, eta);
  if (done == total) fmt::print(stderr, "\n");
}

Progress::Progress(std::string label, size_t bytes, const char* unit)
    : label_(std::move(label)), unit_(unit), bytes_(bytes), start_(std::chrono::steady_clock::now()) {}

std::function<void(size_t, size_t)> Progress::callback() {
  if (globals().verbosity < 1 || !::isatty(STDERR_FILENO)) return {};
  return [this](size_t done, size_t total) {
    total_ = total;
    done_ = done;
    draw_progress(label_, done, total, seconds(), static_cast<double>(bytes_), unit_);
  };
}

void Progress::finish() {
  if (total_ != 0 && done_ != total_)
    draw_progress(label_, total_, total_, seconds(), static_cast<double>(bytes_), unit_);
}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
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

std::string expand_model_spec(const std::string& spec) { return spec == "mix" ? "mix:" + default_model_spec() : spec; }

std::string decode_model_spec(const std::string& given, const std::string& stream) {
  if (stream == "audio") return stream;  // whatever -m names: a mix's stream where no chunk was mixed
  const bool mixed = stream.rfind("mix:", 0) == 0;
  if (!given.empty()) {
    const std::string spec = expand_model_spec(given);
    const bool bare = spec.rfind("mix:", 0) != 0 && spec != "audio" && spec.rfind("builtin:", 0) != 0;
    return mixed && bare ? "mix:" + spec : spec;
  }
  const std::string inner = mixed ? stream.substr(4) : stream;
  if (inner.rfind("builtin:", 0) == 0 || stream == "audio") return stream;
  return mixed ? "mix:" + default_model_spec() : default_model_spec();
}

std::string input_name(const std::string& path) { return path == "-" ? "stdin" : path; }

Bytes read_input(const std::string& path) {
  try {
    return read_file(path);
  } catch (const Error& e) {
    throw Error(input_name(path) + ": " + e.what());
  }
}

CLI::Validator at_least(long long least, long long most) {
  return CLI::Validator(
      [least, most](std::string& value) -> std::string {
        long long v = 0;
        size_t used = 0;
        try {
          v = std::stoll(value, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != value.size() || v < least || v > most)
          return "'" + value + "' is not a whole number " +
                 (most == std::numeric_limits<long long>::max()
                      ? "of at least " + std::to_string(least)
                      : "from " + std::to_string(least) + " to " + std::to_string(most));
        return {};
      },
      least > 0 ? "POSITIVE" : "NONNEGATIVE");
}

}  // namespace lmac::cli
