// Scale-out (docs/EVAL.md, "Many processes"): under mpirun the same report at 1, 2 and 3
// ranks, a killed run resumed from its checkpoint to the uninterrupted answer, a failing
// rank ending the job with one line, files spread over ranks with identical outputs; a
// build without MPI refuses to run as several ranks.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "lmac/eval/world.hpp"
#include "test_support.hpp"

namespace lmac {
namespace {

std::string mpirun(int ranks) {
  return fmt::format(
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --quiet --oversubscribe -n {} {} ", ranks,
      LMAC_BINARY);
}

int shell(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string text_of(const std::string& path) {
  const Bytes b = test::read_bytes(path);
  return std::string(b.begin(), b.end());
}

// The report without what depends on timing or scale.
nlohmann::json comparable(const std::string& path) {
  nlohmann::json j = nlohmann::json::parse(text_of(path));
  j.erase("ranks");
  j.erase("gather_seconds");
  for (auto& c : j["compressors"])
    for (const char* k : {"compress_seconds", "decompress_seconds", "compress_kb_per_s"}) c.erase(k);
  return j;
}

// CSV without its two timing columns (compress_seconds, decompress_seconds).
std::string csv_without_timing(const std::string& path) {
  std::istringstream in(text_of(path));
  std::string out;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::stringstream s(line);
    for (std::string cell; std::getline(s, cell, ',');) f.push_back(cell);
    for (size_t i = 0; i < f.size(); ++i)
      if (i != 10 && i != 11) out += f[i] + ",";
    out += "\n";
  }
  return out;
}

const std::string kAudio = std::string(LMAC_SOURCE_DIR) + "/audio";

TEST(Mpi, SameReportAtOneTwoAndThreeRanks) {
  if (!world_has_mpi()) {
    // A build without MPI, started as one of several ranks, refuses instead of running
    // the whole job once per rank.
    const std::string err = test::temp_dir() + "/nompi.txt";
    EXPECT_EQ(shell("OMPI_COMM_WORLD_SIZE=2 " + std::string(LMAC_BINARY) + " eval --audio-dir " + kAudio +
                    " --compressors gzip 2> " + err + " > /dev/null"),
              2);
    EXPECT_NE(text_of(err).find("built without MPI"), std::string::npos) << text_of(err);
    return;
  }
  const std::string dir = test::temp_dir();
  const std::string args = "eval -q --audio-dir " + kAudio + " --compressors lm,audio,mix,gzip,flac --chunk-size 512 " +
                           "--num-chunks 9 --no-verify ";
  for (int n : {1, 2, 3}) {
    const std::string out = fmt::format("{}/r{}", dir, n);
    ASSERT_EQ(
        shell(mpirun(n) + args + "--json " + out + ".json --csv " + out + ".csv --plot " + out + ".svg > /dev/null"), 0)
        << n << " ranks";
    EXPECT_EQ(nlohmann::json::parse(text_of(out + ".json"))["ranks"], n);
  }
  // One progress report for the job, from rank 0: under mpirun, plain lines ending at 100%.
  const std::string log = dir + "/progress.txt";
  ASSERT_EQ(shell(mpirun(3) + "eval --audio-dir " + kAudio +
                  " --compressors gzip --chunk-size 512 --no-whole > /dev/null 2> " + log),
            0);
  const std::string progress = text_of(log);
  EXPECT_EQ(std::count(progress.begin(), progress.end(), '\n'), 1) << progress;
  EXPECT_NE(progress.find("(100%)"), std::string::npos) << progress;
  for (int n : {2, 3}) {
    const std::string out = fmt::format("{}/r{}", dir, n);
    EXPECT_EQ(comparable(out + ".json"), comparable(dir + "/r1.json")) << n << " ranks";
    EXPECT_EQ(csv_without_timing(out + ".csv"), csv_without_timing(dir + "/r1.csv")) << n << " ranks";
    EXPECT_EQ(text_of(out + ".svg"), text_of(dir + "/r1.svg")) << n << " ranks";
  }
}

// Kills a rank of a running job once its checkpoint holds some chunks; the rerun skips
// them and gives the uninterrupted report.
TEST(Mpi, KilledRunResumesFromItsCheckpoint) {
  if (!world_has_mpi()) GTEST_SKIP() << "covered by the refusal check of a build without MPI";
  const std::string dir = test::temp_dir();
  const std::string ckpt = dir + "/job.ckpt";
  const std::string args = "eval -q --audio-dir " + kAudio + " --compressors lm,gzip --chunk-size 1024 " +
                           "--num-chunks 16 --batch 1 --no-verify --no-whole ";
  ASSERT_EQ(shell(mpirun(2) + args + "--json " + dir + "/whole.json > /dev/null"), 0);
  const pid_t job = fork();
  if (job == 0) {
    execl("/bin/sh", "sh", "-c", (mpirun(2) + args + "--checkpoint " + ckpt + " --json " + dir + "/cut.json").c_str(),
          nullptr);
    _exit(127);
  }
  size_t lines = 0;
  for (int i = 0; i < 600 && lines < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream in(ckpt);
    lines = 0;
    for (std::string l; std::getline(in, l);) ++lines;
  }
  ASSERT_GE(lines, 4u) << "the job recorded nothing";
  // SIGKILL every rank of this job (not mpirun): it ends the job part way.
  shell("for p in $(pgrep -f -- '--checkpoint " + ckpt +
        "'); do [ \"$(cat /proc/$p/comm)\" = lmac ] && kill -9 $p; done");
  int status = 0;
  waitpid(job, &status, 0);
  EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the killed job reported success";
  EXPECT_FALSE(std::filesystem::exists(dir + "/cut.json"));
  std::ifstream in(ckpt);
  size_t kept = 0;
  for (std::string l; std::getline(in, l);) ++kept;
  EXPECT_GE(kept, lines);  // what was finished is kept
  ASSERT_EQ(shell(mpirun(2) + args + "--checkpoint " + ckpt + " --json " + dir + "/resumed.json > /dev/null"), 0);
  EXPECT_EQ(comparable(dir + "/resumed.json"), comparable(dir + "/whole.json"));
  // Other arguments: the checkpoint is refused, in one line naming it.
  const std::string err = dir + "/refused.txt";
  EXPECT_EQ(shell(mpirun(2) + "eval -q --audio-dir " + kAudio + " --compressors gzip --chunk-size 512 --checkpoint " +
                  ckpt + " > /dev/null 2> " + err),
            1);
  EXPECT_NE(text_of(err).find(ckpt + ": checkpoint of another evaluation"), std::string::npos) << text_of(err);
}

TEST(Mpi, AFailingRankEndsTheJobWithOneLine) {
  if (!world_has_mpi()) GTEST_SKIP() << "covered by the refusal check of a build without MPI";
  const std::string dir = test::temp_dir();
  const std::string err = dir + "/fail.txt";
  EXPECT_EQ(shell("LMAC_FAULT_RANK=2 LMAC_FAULT_AFTER=2 " + mpirun(3) + "eval -q --audio-dir " + kAudio +
                  " --compressors gzip,flac --chunk-size 512 --num-chunks 300 --checkpoint " + dir + "/f.ckpt --json " +
                  dir + "/fail.json > /dev/null 2> " + err),
            1);
  const std::string e = text_of(err);
  EXPECT_EQ(e.rfind("lmac: rank 2: injected fault", 0), 0u) << e;
  EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 1) << e;
  EXPECT_FALSE(std::filesystem::exists(dir + "/fail.json"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/f.ckpt"));
}

TEST(Mpi, FilesAreSpreadOverRanksWithTheSameOutputs) {
  if (!world_has_mpi()) GTEST_SKIP() << "covered by the refusal check of a build without MPI";
  const std::string dir = test::temp_dir() + "/spread";
  std::filesystem::create_directories(dir + "/one");
  std::filesystem::create_directories(dir + "/many");
  std::string files;
  for (int i = 0; i < 5; ++i) {
    PcmFormat f;
    f.channels = static_cast<uint16_t>(1 + i % 2);
    const Bytes wav =
        test::make_wav(f, test::make_pcm(f, 800 + 300 * static_cast<size_t>(i), test::Content::SineNoise));
    for (const char* sub : {"one", "many"}) test::write_bytes(fmt::format("{}/{}/{}.wav", dir, sub, i), wav);
    files += fmt::format(" {}.wav", i);
  }
  ASSERT_EQ(shell("cd " + dir + "/one && " + LMAC_BINARY + " compress -q -m builtin:order2" + files), 0);
  ASSERT_EQ(shell("cd " + dir + "/many && " + mpirun(3) + "compress -q -m builtin:order2" + files), 0);
  for (int i = 0; i < 5; ++i) {
    const std::string name = fmt::format("/{}.wav", i);
    EXPECT_EQ(test::read_bytes(dir + "/many" + name + ".lmac"), test::read_bytes(dir + "/one" + name + ".lmac"));
    std::filesystem::remove(dir + "/many" + name);
  }
  std::string streams;
  for (int i = 0; i < 5; ++i) streams += fmt::format(" {}.wav.lmac", i);
  ASSERT_EQ(shell("cd " + dir + "/many && " + mpirun(2) + "decompress -q" + streams), 0);
  for (int i = 0; i < 5; ++i) {
    const std::string name = fmt::format("/{}.wav", i);
    EXPECT_EQ(test::read_bytes(dir + "/many" + name), test::read_bytes(dir + "/one" + name));
  }
}

}  // namespace
}  // namespace lmac
