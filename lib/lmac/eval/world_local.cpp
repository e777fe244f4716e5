// The world of one process, and the choice of world at start.
#include <cstdlib>
#include <string>

#include "lmac/common/error.hpp"
#include "lmac/eval/world.hpp"

namespace lmac {

// In world_mpi.cpp when the build has Open MPI, else in this file (below).
std::unique_ptr<World> make_mpi_world();

namespace {

class LocalWorld final : public World {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  std::vector<Bytes> gather(ByteSpan mine) override { return {Bytes(mine.begin(), mine.end())}; }
  int max_all(int value) override { return value; }
  void progress(uint64_t done) override {
    if (draw_) draw_(done);
  }
  void signal_failure() override {}
  bool stop_requested() override { return false; }
};

// The number of ranks a launcher started, from the variables Open MPI, MPICH/PMI and
// Slurm's srun set; 1 when none did.
long launched_ranks() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_STEP_NUM_TASKS"})
    if (const char* v = std::getenv(var); v && *v) {
      const long n = std::strtol(v, nullptr, 10);
      if (n > 1) return n;
    }
  return 1;
}

}  // namespace

#ifndef LMAC_HAVE_MPI
std::unique_ptr<World> make_mpi_world() { return nullptr; }
bool world_has_mpi() { return false; }
#endif

std::unique_ptr<World> make_world() {
  const long ranks = launched_ranks();
  if (ranks > 1) {
    if (auto w = make_mpi_world()) return w;
    fail(
        "started as one of " + std::to_string(ranks) +
        " ranks, but this lmac was built without MPI (LMAC_MPI=OFF or no Open MPI): each rank would run the whole job; "
        "rebuild with libopenmpi-dev installed");
  }
  return std::make_unique<LocalWorld>();
}

}  // namespace lmac
