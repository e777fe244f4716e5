// The lmac command: a thin client of the library (xz/zstd/flac habits).
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include "cli_common.hpp"
#include "lmac/common/error.hpp"
#include "lmac/eval/world.hpp"
#include "lmac/lm/backend.hpp"
#include "lmac/lm/cuda_backend.hpp"

namespace {

// Several ranks on one machine share it: each takes its own GPU when there are GPUs
// (round robin by local rank), else an equal share of the cores. --device, LMAC_DEVICE
// and -T still decide when given.
void place_rank(const lmac::World& w, const std::string& device) {
  using lmac::cli::globals;
  if (w.size() == 1) return;
  if (w.rank() != 0) globals().verbosity = std::min(globals().verbosity, 0);  // rank 0 speaks for the job
  const char* env = std::getenv("LMAC_DEVICE");
  if (device.empty() && !(env && *env)) {
    const int gpus = lmac::cuda_device_count();
    if (gpus > 0) lmac::select_device("cuda:" + std::to_string(w.local_rank() % gpus));
  }
  if (globals().threads == 0)
    globals().threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / w.local_size());
}

int run(int argc, char** argv) {
  using namespace lmac::cli;
  CLI::App app{"lmac: lossless audio compression with language models"};
  app.set_version_flag("-V,--version", std::string("lmac ") + LMAC_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  auto* q = app.add_flag("-q,--quiet")->description("only errors on stderr");
  auto* v = app.add_flag("-v,--verbose")->description("more detail on stderr");
  app.add_option("-T,--threads", globals().threads, "worker threads (default 0: all cores; at most 1024)")
      ->check(at_least(0, 1024));
  std::string device;
  app.add_option("--device", device,
                 "where models run: auto (a CUDA GPU when present, else the CPU; the bits are the same), cpu, "
                 "cuda, cuda:N, or grid (the GPU kernels on the CPU, for checking); default $LMAC_DEVICE or auto");
  add_compress(app);
  add_decompress(app);
  add_info(app);
  add_eval(app);
  add_model_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    report_error("", e.what());
    return kUsage;
  }
  if (v->count() > 0) globals().verbosity = 2;
  if (q->count() > 0) globals().verbosity = 0;
  std::unique_ptr<lmac::World> world;
  try {
    world = lmac::make_world();
  } catch (const std::exception& e) {
    report_error("", e.what());
    return kUsage;
  }
  globals().world = world.get();
  try {
    if (!device.empty()) lmac::select_device(device);
    place_rank(*world, device);
    if (globals().verbosity == 2) note(fmt::format("device: {}", lmac::selected_device()));
    return action() ? action()() : kUsage;
  } catch (const CLI::ParseError& e) {
    report_error("", e.what());
    return kUsage;
  } catch (const QuietFailure&) {
    return kError;
  } catch (const std::exception& e) {
    report_error("", e.what());
    return kError;
  }
}

}  // namespace

// Whatever escapes (building the command line, reporting itself failing) still ends
// with one line and an error code, not std::terminate.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lmac: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "lmac: unknown error\n");
  }
  return lmac::cli::kError;
}
