// Shared pieces of the lmac command: reporting, progress, model resolution.
#pragma once

#include <chrono>
#include <functional>
#include <limits>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "lmac/baselines/compressor.hpp"
#include "lmac/codec/file_codec.hpp"
#include "lmac/codec/model.hpp"
#include "lmac/eval/world.hpp"

namespace lmac::cli {

enum Exit { kOk = 0, kError = 1, kUsage = 2 };

struct Globals {
  int verbosity = 1;  // 0 quiet, 1 normal, 2 verbose
  int threads = 0;    // 0: all cores
  World* world = nullptr;
};
Globals& globals();
World& world();

// Thrown on ranks other than 0 when rank 0 reported the failure: exit 1, no message.
struct QuietFailure {};
// Runs check on rank 0 only; every rank learns whether it passed: rank 0 rethrows its
// error, the others throw QuietFailure.
void on_rank0(World& w, const std::function<void()>& check);
// The chosen subcommand's action, run after parsing; returns the exit code.
std::function<int()>& action();
int thread_count();

// "lmac: FILE: reason" on stderr.
void report_error(const std::string& file, const std::string& reason);
void note(const std::string& message);     // shown unless -q
void verbose(const std::string& message);  // shown with -v
// For CodecOptions::note: the codec's choices as `file: line` with -v, else nothing.
std::function<void(const std::string&)> codec_note(const std::string& file);

// One progress line on stderr: bar, chunks (or `unit`), audio KB/s (where bytes > 0),
// elapsed and ETA; ends at 100%.
void draw_progress(const std::string& label, size_t done, size_t total, double seconds, double bytes,
                   const char* unit = "chunks");

// The progress of one file's chunks; drawn only when stderr is a terminal (and not -q).
class Progress {
 public:
  Progress(std::string label, size_t bytes, const char* unit = "chunks");
  // For CodecOptions::progress; empty when nothing is drawn. Valid while this lives.
  std::function<void(size_t, size_t)> callback();
  // Draws the 100% line if the last report fell short (chunks that needed no model).
  void finish();
  double seconds() const;

 private:
  std::string label_;
  const char* unit_;
  size_t bytes_, done_ = 0, total_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// --model given, or the bundled default model (models/), or builtin:order2 when the
// build ships no model.
std::string default_model_spec();

// A model spec as given to -m, with "mix" standing for the bundled model mixed with the
// audio model ("mix:" + default_model_spec()).
std::string expand_model_spec(const std::string& spec);

// The model to decode a stream with: `audio` for a stream that names it, whatever is
// given (a mix's stream where no chunk was mixed names it); else the one given (a bare
// GGUF for a mixed stream becomes mix:GGUF), else the one the stream names when it needs
// no file (builtin:order2, mix:builtin:order2), else the bundled model, mixed when the
// stream was.
std::string decode_model_spec(const std::string& given, const std::string& stream_model_name);

// The bytes of a file ('-': stdin); its errors name the file.
Bytes read_input(const std::string& path);
// How messages name an input: its path, or "stdin" for '-'.
std::string input_name(const std::string& path);

// Whole numbers from `least` to `most`, with a short message (CLI11's own range checks
// print the largest double in full).
CLI::Validator at_least(long long least, long long most = std::numeric_limits<long long>::max());

// The help of --batch (unset: the codec's choice, CodecOptions::batch 0).
inline constexpr const char* kBatchHelp =
    "chunks advanced together per model call (default: 16 on the CPU; on a GPU as many as its free memory holds, "
    "up to 256)";

void add_compress(CLI::App& app);
void add_decompress(CLI::App& app);
void add_info(CLI::App& app);
void add_eval(CLI::App& app);
void add_model_commands(CLI::App& app);

}  // namespace lmac::cli
