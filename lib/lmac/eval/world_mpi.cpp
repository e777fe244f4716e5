// The world of `mpirun -n N` / srun ranks, on Open MPI. Collectives for results; small
// point-to-point messages on a communicator of their own for progress and stop requests,
// so that rank 0 can draw the job's progress and a failing rank can end the job cleanly
// (one line from rank 0, every rank exiting) instead of through MPI_Abort.
#include <mpi.h>

#include <chrono>
#include <deque>
#include <thread>

#include "lmac/common/error.hpp"
#include "lmac/eval/world.hpp"

namespace lmac {
namespace {

enum Tag { kProgress = 1, kStop = 2, kDone = 3 };

using Clock = std::chrono::steady_clock;

class MpiWorld final : public World {
 public:
  MpiWorld() {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_dup(MPI_COMM_WORLD, &control_);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
    done_by_rank_.assign(static_cast<size_t>(size_), 0);
  }

  ~MpiWorld() override {
    complete_sends();
    MPI_Barrier(MPI_COMM_WORLD);  // every rank has sent what it will send
    drain();
    MPI_Comm_free(&control_);
    MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }

  std::vector<Bytes> gather(ByteSpan mine) override {
    if (rank_ == 0) {
      wait_for_others();
    } else {
      send(0, kProgress, done_by_rank_[static_cast<size_t>(rank_)]);  // the last count, unthrottled
      send(0, kDone, 0);
    }
    int n = static_cast<int>(mine.size());
    std::vector<int> sizes(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
    MPI_Gather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
    Bytes all;
    if (rank_ == 0) {
      int total = 0;
      for (int r = 0; r < size_; ++r) offsets[static_cast<size_t>(r)] = total, total += sizes[static_cast<size_t>(r)];
      all.resize(static_cast<size_t>(total));
    }
    MPI_Gatherv(mine.data(), n, MPI_BYTE, all.data(), sizes.data(), offsets.data(), MPI_BYTE, 0, MPI_COMM_WORLD);
    std::vector<Bytes> out;
    if (rank_ == 0)
      for (int r = 0; r < size_; ++r) {
        const auto at = all.begin() + offsets[static_cast<size_t>(r)];
        out.emplace_back(at, at + sizes[static_cast<size_t>(r)]);
      }
    return out;
  }

  int max_all(int value) override {
    int out = value;
    MPI_Allreduce(&value, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return out;
  }

  void progress(uint64_t done_here) override {
    done_by_rank_[static_cast<size_t>(rank_)] = done_here;
    const auto now = Clock::now();
    if (now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    if (rank_ == 0) {
      drain();
      redraw();
    } else {
      send(0, kProgress, done_here);
    }
  }

  void signal_failure() override {
    stop_ = true;
    for (int r = 0; r < size_; ++r)
      if (r != rank_) send(r, kStop, 0);
  }

  bool stop_requested() override {
    drain();
    return stop_;
  }

 private:
  struct Outgoing {
    uint64_t value;
    MPI_Request request;
  };

  void send(int to, int tag, uint64_t value) {
    complete_sends(false);
    Outgoing& o = outgoing_.emplace_back(Outgoing{value, MPI_REQUEST_NULL});
    MPI_Isend(&o.value, 1, MPI_UINT64_T, to, tag, control_, &o.request);
  }

  // Frees the buffers of finished sends (all of them, waiting, when `wait`).
  void complete_sends(bool wait = true) {
    while (!outgoing_.empty()) {
      int finished = 0;
      if (wait)
        MPI_Wait(&outgoing_.front().request, MPI_STATUS_IGNORE), finished = 1;
      else
        MPI_Test(&outgoing_.front().request, &finished, MPI_STATUS_IGNORE);
      if (!finished) return;
      outgoing_.pop_front();
    }
  }

  // Receives every control message that has arrived.
  void drain() {
    for (;;) {
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, control_, &flag, &st);
      if (!flag) return;
      uint64_t v = 0;
      MPI_Recv(&v, 1, MPI_UINT64_T, st.MPI_SOURCE, st.MPI_TAG, control_, MPI_STATUS_IGNORE);
      if (st.MPI_TAG == kProgress) done_by_rank_[static_cast<size_t>(st.MPI_SOURCE)] = v;
      if (st.MPI_TAG == kStop) stop_ = true;
      if (st.MPI_TAG == kDone) ++finished_;
    }
  }

  void redraw() {
    uint64_t sum = 0;
    for (uint64_t d : done_by_rank_) sum += d;
    if (draw_) draw_(sum);
  }

  // Rank 0, its own work done: keeps the progress line moving until every rank is done.
  void wait_for_others() {
    while (finished_ < size_ - 1) {
      drain();
      redraw();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    redraw();
  }

  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1, finished_ = 0;
  bool stop_ = false;
  MPI_Comm control_ = MPI_COMM_NULL;
  std::vector<uint64_t> done_by_rank_;
  std::deque<Outgoing> outgoing_;
  Clock::time_point last_{};
};

}  // namespace

std::unique_ptr<World> make_mpi_world() { return std::make_unique<MpiWorld>(); }
bool world_has_mpi() { return true; }

}  // namespace lmac
