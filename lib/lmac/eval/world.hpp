// The processes a job runs on: one (a plain run) or many (`mpirun -n N lmac ...`, or
// srun), as in MPI's MPI_COMM_WORLD. Rank 0 gathers results, draws the one progress line
// and writes the reports; every rank computes.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lmac/common/bytes.hpp"

namespace lmac {

class World {
 public:
  virtual ~World() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // This process's place among the ranks on its own machine (for devices and threads).
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;

  // Rank 0 gets every rank's bytes in rank order (its own first); the others get none.
  // Rank 0 keeps drawing progress while it waits for the others.
  virtual std::vector<Bytes> gather(ByteSpan mine) = 0;
  // The largest of every rank's value, on every rank.
  virtual int max_all(int value) = 0;

  // Job-wide progress: each rank reports the units it has finished; rank 0's callback
  // sees the sum over ranks. Cheap to call often (rate-limited inside).
  void set_progress(std::function<void(uint64_t done)> draw) { draw_ = std::move(draw); }
  virtual void progress(uint64_t done_here) = 0;

  // This rank failed: the others stop at their next check. stop_requested says whether
  // any rank has failed.
  virtual void signal_failure() = 0;
  virtual bool stop_requested() = 0;

 protected:
  std::function<void(uint64_t)> draw_;
};

// The world this process was started in: MPI's when the build has Open MPI and a
// launcher started it (MPI is initialized then, and finalized when the world ends),
// else a world of one. A build without MPI started as one of several ranks throws:
// it would run the whole job once per rank.
std::unique_ptr<World> make_world();
// Whether this build can run as several ranks.
bool world_has_mpi();

}  // namespace lmac
