// The lmac command: a thin client of the library (xz/zstd/flac habits).
#include <fmt/format.h>

#include "cli_common.hpp"
#include "lmac/common/error.hpp"
#include "lmac/lm/backend.hpp"

int main(int argc, char** argv) {
  using namespace lmac::cli;
  CLI::App app{"lmac: lossless audio compression with language models"};
  app.set_version_flag("-V,--version", std::string("lmac ") + LMAC_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  auto* q = app.add_flag("-q,--quiet")->description("only errors on stderr");
  auto* v = app.add_flag("-v,--verbose")->description("more detail on stderr");
  app.add_option("-T,--threads", globals().threads, "worker threads (default 0: all cores)")->check(at_least(0));
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
  try {
    if (!device.empty()) lmac::select_device(device);
    if (globals().verbosity == 2) note(fmt::format("device: {}", lmac::selected_device()));
    return action() ? action()() : kUsage;
  } catch (const CLI::ParseError& e) {
    report_error("", e.what());
    return kUsage;
  } catch (const std::exception& e) {
    report_error("", e.what());
    return kError;
  }
}
