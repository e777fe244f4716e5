// The lmac command as a user runs it: exit codes, one-line errors, no partial output.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "lmac/common/arithmetic_revision.hpp"
#include "test_support.hpp"

namespace lmac {
namespace {

struct CmdResult {
  int code;
  std::string err;
};

CmdResult run(const std::string& args) {
  std::string errfile = test::temp_dir() + "/stderr.txt";
  std::string cmd = std::string(LMAC_BINARY) + " " + args + " 2>" + errfile;
  int status = std::system(cmd.c_str());
  Bytes e = test::read_bytes(errfile);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, std::string(e.begin(), e.end())};
}

std::string wav_file(const std::string& name, int bits = 16) {
  PcmFormat f;
  f.bits = static_cast<uint16_t>(bits);
  f.kind = bits == 8 ? SampleKind::Unsigned : SampleKind::Signed;
  f.channels = 2;
  std::string path = test::temp_dir() + "/" + name;
  test::write_bytes(path, test::make_wav(f, test::make_pcm(f, 3000, test::Content::SineNoise), true));
  return path;
}

bool one_line(const std::string& s) { return !s.empty() && s.find('\n') == s.size() - 1; }

// The output may not be the input, under its own name or through a link; -c takes one input.
TEST(Cli, RefusesToOverwriteItsInputAndToConcatenateStreams) {
  const std::string in = wav_file("same.wav");
  const Bytes original = test::read_bytes(in);
  CmdResult r = run("compress --rm -f -m builtin:order2 " + in + " -o " + in);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("is the input file"), std::string::npos) << r.err;
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_EQ(test::read_bytes(in), original);
  const std::string link = test::temp_dir() + "/link.wav";
  std::filesystem::remove(link);
  std::filesystem::create_symlink(in, link);
  EXPECT_EQ(run("compress --rm -f -m builtin:order2 " + in + " -o " + link).code, 1);
  EXPECT_EQ(test::read_bytes(in), original);
  ASSERT_EQ(run("compress -f -m builtin:order2 " + in + " -o " + in + ".lmac").code, 0);
  EXPECT_EQ(run("decompress --rm -f " + in + ".lmac -o " + in + ".lmac").code, 1);
  EXPECT_TRUE(std::filesystem::exists(in + ".lmac"));
  r = run("compress -c -m builtin:order2 " + in + " " + wav_file("other.wav") + " > /dev/null");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("one input"), std::string::npos) << r.err;
}

TEST(Cli, ContradictoryFlagsAndBinaryToATerminalAreUsageErrors) {
  const std::string in = wav_file("flags.wav");
  for (const char* flags : {"-k --rm", "-c -o x.lmac", "--stereo-blocking-n 0"}) {
    const CmdResult r = run(std::string("compress -f -m builtin:order2 ") + flags + " " + in + " > /dev/null");
    EXPECT_EQ(r.code, 2) << flags << ": " << r.err;
    EXPECT_TRUE(one_line(r.err)) << flags << ": " << r.err;
  }
  // Under a pseudo-terminal (script(1)), -c refuses to write binary to it.
  const std::string log = test::temp_dir() + "/tty.txt";
  const std::string cmd = "script -qec '" + std::string(LMAC_BINARY) + " compress -c -m builtin:order2 " + in +
                          "' /dev/null > " + log + " 2>&1";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  const Bytes out = test::read_bytes(log);
  EXPECT_NE(std::string(out.begin(), out.end()).find("terminal"), std::string::npos);
  EXPECT_LT(out.size(), 300u);  // an error line, no stream
}

// On a terminal, compress and decompress draw a bar with rate and ETA that ends at the
// last chunk; -v gives both a summary line.
TEST(Cli, ProgressReachesTheEndAndVerboseSummarizes) {
  const std::string in = wav_file("progress.wav");
  const std::string log = test::temp_dir() + "/progress.txt";
  for (const std::string& args :
       {"compress -f -m builtin:order2 --chunk-size 2048 " + in, "decompress -f " + in + ".lmac -o " + in + ".out"}) {
    const std::string cmd =
        "script -qec '" + std::string(LMAC_BINARY) + " -v " + args + "' /dev/null > " + log + " 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << args;
    const Bytes b = test::read_bytes(log);
    const std::string out(b.begin(), b.end());
    EXPECT_NE(out.find("6/6 chunks"), std::string::npos) << out;  // 12000 bytes in chunks of 2048
    EXPECT_NE(out.find("KB/s"), std::string::npos) << out;
    EXPECT_NE(out.find("ETA"), std::string::npos) << out;
    EXPECT_NE(out.find(" -> "), std::string::npos) << out;            // the summary
    EXPECT_NE(out.find(" char chunks: "), std::string::npos) << out;  // how the codec grouped them
    EXPECT_NE(out.find("(the codec's choice)"), std::string::npos) << out;
  }
  EXPECT_EQ(test::read_bytes(in + ".out"), test::read_bytes(in));
}

// Several files and more than one thread: the files run side by side (the same bytes as
// one after another), with one progress line for all of them on a terminal; an input
// that fails is reported on its own line and the others are still written; a model
// that splits each step between threads (here the grid device) takes the files one
// after another instead.
TEST(Cli, SeveralFilesRunSideBySide) {
  const std::string dir = test::temp_dir() + "/side";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/one");
  std::filesystem::create_directories(dir + "/many");
  std::vector<std::string> names = {"a.wav", "b.wav", "c.wav", "d.wav"};
  std::string one_list, many_list;
  for (size_t k = 0; k < names.size(); ++k) {
    PcmFormat f;
    f.bits = k % 2 ? 8 : 16;
    f.kind = k % 2 ? SampleKind::Unsigned : SampleKind::Signed;
    f.channels = static_cast<uint16_t>(1 + k % 3 / 2);
    const Bytes wav = test::make_wav(f, test::make_pcm(f, 2000 + 700 * k, test::Content::SineNoise), true);
    test::write_bytes(dir + "/one/" + names[k], wav);
    test::write_bytes(dir + "/many/" + names[k], wav);
    one_list += " " + dir + "/one/" + names[k];
    many_list += " " + dir + "/many/" + names[k];
  }
  ASSERT_EQ(run("-T 1 compress -m audio" + one_list).code, 0);
  CmdResult r = run("-T 3 -v compress -m audio" + many_list);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("4 files side by side on 3 threads"), std::string::npos) << r.err;
  for (const auto& n : names) {
    EXPECT_EQ(test::read_bytes(dir + "/many/" + n + ".lmac"), test::read_bytes(dir + "/one/" + n + ".lmac")) << n;
    std::filesystem::rename(dir + "/many/" + n, dir + "/many/" + n + ".original");
  }
  std::string streams;
  for (const auto& n : names) streams += " " + dir + "/many/" + n + ".lmac";
  test::write_bytes(dir + "/many/e.wav.lmac", Bytes{'n', 'o', 't', ' ', 'a', ' ', 's', 't', 'r', 'e', 'a', 'm'});
  r = run("-T 3 decompress" + streams + " " + dir + "/many/e.wav.lmac");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("e.wav.lmac"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/many/e.wav"));
  for (const auto& n : names)
    EXPECT_EQ(test::read_bytes(dir + "/many/" + n), test::read_bytes(dir + "/many/" + n + ".original")) << n;
  // One progress line for the files (on a terminal), not one per file.
  const std::string log = dir + "/progress.txt";
  const std::string cmd =
      "script -qec '" + std::string(LMAC_BINARY) + " -T 2 decompress -f" + streams + "' /dev/null > " + log + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const Bytes b = test::read_bytes(log);
  const std::string out(b.begin(), b.end());
  EXPECT_NE(out.find("decompress [##############################] 4/4 files"), std::string::npos) << out;
  EXPECT_EQ(out.find("chunks"), std::string::npos) << out;
  // The grid device runs the language model's kernels, which split each step: deferred.
  PcmFormat tiny;
  tiny.bits = 8;
  tiny.kind = SampleKind::Unsigned;
  std::string tiny_list;
  for (const char* n : {"/t1.wav", "/t2.wav"}) {
    test::write_bytes(dir + n, test::make_wav(tiny, test::make_pcm(tiny, 40, test::Content::SineNoise), true));
    tiny_list += " " + dir + n;
  }
  r = run("--device grid -T 2 -v compress -m mix" + tiny_list);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("coded after the others, alone"), std::string::npos) << r.err;
}

// An output that is a device or a pipe (/dev/null, a FIFO) is written into, never
// replaced by a file (as root, a rename over /dev/null replaces it); --rm refuses to
// delete an input whose only output went there; a directory is no output.
TEST(Cli, DevicesAndPipesAreWrittenIntoNotReplaced) {
  const std::string in = wav_file("to-pipe.wav"), fifo = test::temp_dir() + "/pipe", copy = fifo + ".copy";
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  ASSERT_EQ(run("compress -m builtin:order2 " + in + " -o " + in + ".lmac -f").code, 0);
  for (const char* force : {"", " -f"}) {
    const std::string reader = "timeout 20 cat " + fifo + " > " + copy + " & ";  // no hang if nothing writes
    const std::string cmd =
        reader + std::string(LMAC_BINARY) + " compress -m builtin:order2" + force + " " + in + " -o " + fifo + "; wait";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    EXPECT_TRUE(std::filesystem::is_fifo(fifo)) << "replaced by a file, with" << force;
    EXPECT_EQ(test::read_bytes(copy), test::read_bytes(in + ".lmac")) << force;
  }
  const CmdResult r = run("compress --rm -m builtin:order2 " + in + " -o /dev/null");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("--rm with output /dev/null"), std::string::npos) << r.err;
  EXPECT_TRUE(std::filesystem::exists(in));
  EXPECT_TRUE(std::filesystem::is_character_file("/dev/null"));
  EXPECT_EQ(run("compress -f -m builtin:order2 " + in + " -o " + test::temp_dir()).code, 1);
  EXPECT_TRUE(std::filesystem::is_directory(test::temp_dir()));
  // Standard output by its name (/dev/stdout is a link to this): written at its offset,
  // as "-" is, even when it is a file. (procfs takes no temporary file beside it.)
  const std::string out = test::temp_dir() + "/stdout.lmac";
  ASSERT_EQ(run("compress -m builtin:order2 " + in + " -o /proc/self/fd/1 > " + out).code, 0);
  EXPECT_EQ(test::read_bytes(out), test::read_bytes(in + ".lmac"));
  // A link: its file is replaced, the link stays; a link to nothing takes no output.
  const std::string link = test::temp_dir() + "/out-link.lmac", dangling = test::temp_dir() + "/dangling.lmac";
  std::filesystem::remove(link), std::filesystem::remove(dangling);
  std::filesystem::create_symlink(copy, link);
  ASSERT_EQ(run("compress -f -m builtin:order2 " + in + " -o " + link).code, 0);
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(test::read_bytes(copy), test::read_bytes(in + ".lmac"));
  std::filesystem::create_symlink(test::temp_dir() + "/nowhere/x", dangling);
  const CmdResult d = run("compress -m builtin:order2 " + in + " -o " + dangling);
  EXPECT_EQ(d.code, 1);
  EXPECT_NE(d.err.find("a link to nothing"), std::string::npos) << d.err;
  EXPECT_TRUE(std::filesystem::is_symlink(dangling));
}

// A FLAC input comes back as what lmac restores, a WAV named .wav, with its tags in
// LIST/INFO and its samples; compress and info say so.
TEST(Cli, DecodedFormatsComeBackAsNamedWavWithTags) {
  const std::string dir = test::temp_dir() + "/flac";
  std::filesystem::create_directories(dir);
  const std::string flac = dir + "/t.flac";
  ASSERT_EQ(std::system(("sox " + wav_file("forflac.wav") + " --comment 'a comment' " + flac).c_str()), 0);
  std::filesystem::remove(dir + "/t.wav");
  CmdResult r = run("compress -f -m builtin:order2 " + flac);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.err.find("WAV"), std::string::npos) << r.err;
  EXPECT_EQ(run("info " + flac + ".lmac | grep -q 'restores   a WAV'").code, 0);
  ASSERT_EQ(run("decompress -f " + flac + ".lmac").code, 0);
  const Bytes wav = test::read_bytes(dir + "/t.wav");
  const std::string text(wav.begin(), wav.end());
  EXPECT_NE(text.find("ICMT"), std::string::npos);
  EXPECT_NE(text.find("a comment"), std::string::npos);
  EXPECT_EQ(parse_audio(wav, std::nullopt).data, decode_with_sndfile(test::read_bytes(flac)).data);
}

// tokenize needs only the vocabulary: llama.cpp's vocab-only files work.
TEST(Cli, TokenizeTakesVocabOnlyFiles) {
  const std::string vocab = std::string(LMAC_TEST_DATA) + "/tokenizer/llama-spm/ggml-vocab-llama-spm.gguf";
  const std::string out = test::temp_dir() + "/ids.txt";
  ASSERT_EQ(run("tokenize -m " + vocab + " < /dev/null > " + out).code, 0);
  const std::string cmd =
      "printf 'Once upon a time' | " + std::string(LMAC_BINARY) + " tokenize -m " + vocab + " > " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const Bytes ids = test::read_bytes(out);
  EXPECT_EQ(std::string(ids.begin(), ids.end()), "9038 2501 263 931\n");
  // And back; ids that are not numbers or not in the vocabulary are named.
  ASSERT_EQ(run("tokenize --detokenize -m " + vocab + " < " + out + " > " + out + ".txt").code, 0);
  const Bytes text = test::read_bytes(out + ".txt");
  EXPECT_EQ(std::string(text.begin(), text.end()), "Once upon a time");
  for (const auto& [ids_in, named] : {std::pair<std::string, std::string>{"1 abc", "'abc' is not a token id"},
                                      {"1 99999999", "token id 99999999 out of range"},
                                      {"1 -5", "token id -5 out of range"},
                                      {"1 99999999999", "'99999999999' is not a token id"}}) {
    test::write_bytes(out, ByteSpan(reinterpret_cast<const uint8_t*>(ids_in.data()), ids_in.size()));
    const CmdResult r = run("tokenize --detokenize -m " + vocab + " < " + out);
    EXPECT_EQ(r.code, 1) << ids_in;
    EXPECT_TRUE(one_line(r.err)) << r.err;
    EXPECT_NE(r.err.find(named), std::string::npos) << r.err;
  }
}

// Errors name the file they concern; eval checks where its results go before running and
// refuses contradictory settings; 24-bit eval runs on the default chunk size.
TEST(Cli, ErrorsNameTheirFileAndEvalChecksFirst) {
  CmdResult r = run("eval --merge nope.json");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("nope.json"), std::string::npos) << r.err;
  r = run("score /nonexistent-text.txt");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("/nonexistent-text.txt"), std::string::npos) << r.err;
  const std::string in = wav_file("named.wav");
  r = run("compress -f -m builtin:order2 " + in + " -o /nonexistent-dir/x.lmac");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("/nonexistent-dir/x.lmac"), std::string::npos) << r.err;
  const std::string dir = test::temp_dir() + "/evaldir";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(in, dir + "/a.wav", std::filesystem::copy_options::overwrite_existing);
  r = run("eval --audio-dir " + dir + " --compressors gzip --json /nonexistent-dir/r.json");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("/nonexistent-dir/r.json"), std::string::npos) << r.err;
  EXPECT_EQ(run("eval --audio-dir " + dir + " --paper --bit-depth 16 --compressors gzip").code, 2);
  EXPECT_EQ(run("eval -q --audio-dir " + dir + " --bit-depth 24 --compressors gzip,flac --no-whole > /dev/null").code,
            0);
}

TEST(Cli, CompressDecompressInfo) {
  std::string in = wav_file("a.wav");
  std::string out = test::temp_dir() + "/a.out.wav";
  EXPECT_EQ(run("compress -f --verify -m builtin:order2 " + in).code, 0);
  const std::string rev = std::to_string(kArithmeticRevision);
  EXPECT_EQ(run("info " + in + ".lmac | grep -qx '  format     .lmac version 3, arithmetic revision " + rev + "'").code,
            0);
  // A stream lmac 0.2.0 wrote (format version 2) is described and restored.
  const std::string v2 = std::string(LMAC_GOLDEN_DIR) + "/v2/r" + rev + "-builtin-u8-mono.lmac";
  EXPECT_EQ(run("info " + v2 + " | grep -q 'version 2 (this lmac writes 3)'").code, 0);
  EXPECT_EQ(run("decompress -f " + v2 + " -o " + out).code, 0);
  EXPECT_TRUE(std::filesystem::exists(out));
  // A mixed stream whose chunks are longer than the language model's context says where
  // the language model starts afresh.
  const std::string segmented =
      fmt::format("{}/tests/golden/r{}-mix-s16-mono-segments.lmac", LMAC_SOURCE_DIR, kArithmeticRevision);
  EXPECT_EQ(
      run("info " + segmented + " | grep -q 'segments   the language model starts afresh every 2046 bytes of a chunk'")
          .code,
      0);
  EXPECT_EQ(run("decompress -f " + in + ".lmac -o " + out).code, 0);
  EXPECT_EQ(test::read_bytes(out), test::read_bytes(in));
  // A mix's margin: at 0 any saving keeps a chunk mixed (8-bit square waves: the
  // language model helps), at 100 % none stays mixed; both restore.
  PcmFormat f8;
  f8.bits = 8;
  f8.kind = SampleKind::Unsigned;
  const std::string in8 = test::temp_dir() + "/square8.wav";
  test::write_bytes(in8, test::make_wav(f8, test::make_pcm(f8, 4000, test::Content::Square)));
  for (const char* margin : {"0", "100"}) {
    const std::string cmd =
        fmt::format("compress -f --verify -m mix:builtin:order2 --mix-margin {} {} -o {}.m.lmac", margin, in8, out);
    EXPECT_EQ(run(cmd).code, 0);
    const int none_mixed = run("info " + out + ".m.lmac | grep -q ' 0 mixed with the language model'").code;
    EXPECT_EQ(none_mixed, margin[0] == '0' ? 1 : 0) << margin;
    EXPECT_EQ(run("decompress -f " + out + ".m.lmac -o " + out).code, 0);
    EXPECT_EQ(test::read_bytes(out), test::read_bytes(in8));
  }
  // The audio model's exhaustive search, which the decoder needs not know of.
  EXPECT_EQ(run("compress -f --verify -m audio --exhaustive " + in + " -o " + out + ".e.lmac").code, 0);
  EXPECT_EQ(run("decompress -f " + out + ".e.lmac -o " + out).code, 0);
  EXPECT_EQ(test::read_bytes(out), test::read_bytes(in));
  // Old Python spellings and stdin/stdout.
  EXPECT_EQ(
      run("compress -m builtin:order2 --chunk_size 1024 --stereo_blocking_n 4 -c - < " + in + " > " + out + ".lmac")
          .code,
      0);
  EXPECT_EQ(run("decompress -c - < " + out + ".lmac > " + out).code, 0);
  EXPECT_EQ(test::read_bytes(out), test::read_bytes(in));
  // A stream without the .lmac suffix restores into NAME.out, and says so.
  std::filesystem::copy_file(in + ".lmac", out + ".bin", std::filesystem::copy_options::overwrite_existing);
  const auto plain = run("decompress -f " + out + ".bin");
  EXPECT_EQ(plain.code, 0);
  EXPECT_NE(plain.err.find("restoring into " + out + ".bin.out"), std::string::npos) << plain.err;
  EXPECT_EQ(test::read_bytes(out + ".bin.out"), test::read_bytes(in));
  // Reports and errors call standard input "stdin", as read errors always did.
  EXPECT_EQ(run("info - < " + out + ".lmac | head -1 | grep -qx 'stdin:'").code, 0);
  const auto bad = run("info - < " + in);
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("stdin: not an .lmac file"), std::string::npos) << bad.err;
}

// A mix's stream in which no chunk stayed mixed names the audio model: it restores
// without the language model, whatever -m names (a GGUF, a mix), and -v says so; one with
// a mixed chunk, or made with --model-only, names the mix.
TEST(Cli, AMixWithNothingMixedNamesTheAudioModel) {
  const std::string in = wav_file("nothing-mixed.wav");
  const std::string s = test::temp_dir() + "/nothing-mixed.lmac", out = test::temp_dir() + "/nothing-mixed.out.wav";
  const std::string bundled = std::string(LMAC_SOURCE_DIR) + "/models/tinyllama-text-15m-q8_0.gguf";
  const auto made = run("compress -f -v --verify --mix-margin 100 " + in + " -o " + s);  // the default mix
  EXPECT_EQ(made.code, 0);
  EXPECT_NE(made.err.find("the stream names the audio model alone"), std::string::npos) << made.err;
  EXPECT_EQ(run("info " + s + " | grep -q '^  model      audio '").code, 0);
  for (const std::string& model : std::vector<std::string>{"", "-m " + bundled, "-m mix:" + bundled, "-m audio"}) {
    const CmdResult r = run("decompress -f -v " + model + " " + s + " -o " + out);
    EXPECT_EQ(r.code, 0) << model;
    EXPECT_EQ(test::read_bytes(out), test::read_bytes(in)) << model;
    // A language model named for it is not read, and -v says so.
    const bool named_lm = model.find(bundled) != std::string::npos;
    EXPECT_EQ(r.err.find("needs no language model: -m ") != std::string::npos, named_lm) << model << "\n" << r.err;
  }
  EXPECT_EQ(run("compress -f --model-only -m mix:builtin:order2 " + in + " -o " + s).code, 0);
  EXPECT_EQ(run("info " + s + " | grep -q '^  model      mix:builtin:order2 '").code, 0);
  PcmFormat f8;  // 8-bit square waves: the language model helps, a chunk stays mixed
  f8.bits = 8;
  f8.kind = SampleKind::Unsigned;
  const std::string in8 = test::temp_dir() + "/square8-mixed.wav";
  test::write_bytes(in8, test::make_wav(f8, test::make_pcm(f8, 4000, test::Content::Square)));
  EXPECT_EQ(run("compress -f --verify -m mix:builtin:order2 --mix-margin 0 " + in8 + " -o " + s).code, 0);
  EXPECT_EQ(run("info " + s + " | grep -q '^  model      mix:builtin:order2 '").code, 0);
}

// The text a command prints on stdout (help).
std::string output_of(const std::string& args) {
  const std::string out = test::temp_dir() + "/stdout.txt";
  EXPECT_EQ(std::system((std::string(LMAC_BINARY) + " " + args + " > " + out + " 2>&1").c_str()), 0) << args;
  const Bytes b = test::read_bytes(out);
  return std::string(b.begin(), b.end());
}

// An option's help entry: from its name to the next option.
std::string help_entry(const std::string& help, const std::string& option) {
  const size_t at = help.find("  " + option);
  if (at == std::string::npos) return "";
  const size_t next = help.find("\n  -", at + 1);
  return help.substr(at, next == std::string::npos ? std::string::npos : next - at);
}

// Every option with a default says what it is; range errors stay short.
TEST(Cli, HelpStatesEveryDefaultAndRangeErrorsAreShort) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> commands = {
      {"compress",
       {"-m,", "--chunk-size", "--mapping", "--layout", "--byte-order", "--tokenization", "--batch", "--mix-margin"}},
      {"decompress", {"-m,", "--batch"}},
      {"eval",
       {"--bit-depth", "--chunk-size", "--num-chunks", "--compressors", "-m,", "--channels", "--sample", "--seed",
        "--mapping", "--tokenization", "--batch"}},
      {"", {"-T,"}}};
  for (const auto& [command, options] : commands) {
    const std::string help = output_of(command + " --help");
    for (const std::string& option : options) {
      const std::string entry = help_entry(help, option);
      ASSERT_FALSE(entry.empty()) << command << " " << option;
      EXPECT_NE(entry.find("default"), std::string::npos) << command << " " << option << ": " << entry;
    }
  }
  EXPECT_NE(help_entry(output_of("compress --help"), "--chunk-size").find("2046 with the bundled model"),
            std::string::npos);
  for (const char* bad :
       {"compress --chunk-size 0 x.wav", "compress --batch -1 x.wav", "compress --mix-margin 101 x.wav",
        "compress --mix-margin -1 x.wav", "-T -1 info x", "-T 100000 info x", "eval --stereo-blocking-n 0",
        "bench --reps 0", "bench --prefill -1", "bench --decode 0", "bench --batches 8,0", "bench --context -1"}) {
    const CmdResult r = run(std::string(bad));
    EXPECT_EQ(r.code, 2) << bad;
    EXPECT_TRUE(one_line(r.err)) << r.err;
    EXPECT_LT(r.err.size(), 120u) << r.err;
  }
  // Past the model's context: refused before any pass, naming the model.
  for (const char* bad : {"bench --prefill 4000", "bench --prefill 8 --context 2000 --decode 48"}) {
    const CmdResult r = run(std::string(bad));
    EXPECT_EQ(r.code, 1) << bad;
    EXPECT_TRUE(one_line(r.err)) << r.err;
    EXPECT_NE(r.err.find(".gguf: --prefill"), std::string::npos) << r.err;
  }
}

TEST(Cli, ErrorsAreOneLineWithExitCodesAndNoOutput) {
  std::string dir = test::temp_dir();
  // Usage errors: exit 2.
  EXPECT_EQ(run("compress --mapping nope x.wav").code, 2);
  EXPECT_EQ(run("").code, 2);
  CmdResult usage = run("compress --format s13le x.wav");
  EXPECT_EQ(usage.code, 2);
  EXPECT_NE(usage.err.find("bad --format 's13le'"), std::string::npos) << usage.err;
  EXPECT_EQ(run("compress --layout blocked:0 x.wav").code, 2);
  // A file that is not a model, named in the error.
  std::string audio = wav_file("not-a-model.wav");
  CmdResult not_model = run("model-info " + audio);
  EXPECT_EQ(not_model.code, 1);
  EXPECT_NE(not_model.err.find("not-a-model.wav: not a GGUF file"), std::string::npos) << not_model.err;
  // Missing input.
  CmdResult r = run("compress -m builtin:order2 " + dir + "/missing.wav");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("missing.wav"), std::string::npos);
  // Chunk size not a multiple of the frame size (16-bit stereo: 4 bytes).
  std::string in = wav_file("b.wav");
  r = run("compress -f -m builtin:order2 --chunk-size 2046 " + in);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("multiple of the frame size 4"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(in + ".lmac"));
  // Truncated and corrupted streams: error, no output file, no temporary left.
  ASSERT_EQ(run("compress -f -m builtin:order2 " + in).code, 0);
  Bytes packed = test::read_bytes(in + ".lmac");
  std::string bad = dir + "/bad.lmac";
  test::write_bytes(bad, ByteSpan(packed).subspan(0, packed.size() / 2));
  r = run("decompress -f " + bad + " -o " + dir + "/bad.wav");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("bad.lmac"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir + "/bad.wav"));
  packed[packed.size() / 2] ^= 1;
  test::write_bytes(bad, packed);
  r = run("decompress -f " + bad + " -o " + dir + "/bad.wav");
  EXPECT_EQ(r.code, 1);
  EXPECT_FALSE(std::filesystem::exists(dir + "/bad.wav"));
  // Not audio at all.
  std::string txt = dir + "/notes.txt";
  test::write_bytes(txt, Bytes{'h', 'i', '\n'});
  r = run("compress -f -m builtin:order2 " + txt);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_FALSE(std::filesystem::exists(txt + ".lmac"));
  // Existing output without -f.
  r = run("compress -m builtin:order2 " + in);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("exists"), std::string::npos);
  for (auto& e : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(e.path().string().find(".lmac-tmp-"), std::string::npos) << e.path();
}

TEST(Cli, EvalWithOldSpellingsAndReports) {
  std::string dir = test::temp_dir() + "/evaldir";
  std::filesystem::create_directories(dir);
  std::string in = wav_file("evaldir/x.wav");
  std::string json = test::temp_dir() + "/r.json", csv = test::temp_dir() + "/r.csv", svg = test::temp_dir() + "/r.svg";
  CmdResult r =
      run("eval --audio_dir " + dir + " --use_16bit --chunk_size 1024 --num_chunks 3 --compressors gzip,flac --json " +
          json + " --csv " + csv + " --plot " + svg + " > /dev/null");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("--use_16bit is deprecated"), std::string::npos) << r.err;
  Bytes j = test::read_bytes(json);
  std::string js(j.begin(), j.end());
  EXPECT_NE(js.find("\"bit_depth\": 16"), std::string::npos);
  EXPECT_NE(js.find("\"chunks\": 3"), std::string::npos);
  EXPECT_NE(js.find("\"exhaustive\": false"), std::string::npos);
  EXPECT_EQ(run("eval --merge " + json + " " + json + " --plot " + svg + " > /dev/null").code, 0);
  // -e reaches the audio model's encoder, and the report says so.
  r = run("eval --audio-dir " + dir + " --num-chunks 2 --compressors audio -e --json " + json + " > /dev/null");
  EXPECT_EQ(r.code, 0) << r.err;
  j = test::read_bytes(json);
  js.assign(j.begin(), j.end());
  EXPECT_NE(js.find("\"exhaustive\": true"), std::string::npos);
  r = run("eval --audio-dir " + dir + " --compressors rar");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("unknown compressor 'rar' (lm, audio, mix, gzip,"), std::string::npos) << r.err;
  r = run("eval --audio-dir " + test::temp_dir() + "/nowhere --compressors gzip");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
}

TEST(Cli, EvalDefaultChunkSizeFitsStereoFramesOfTheBundledModel) {
  // The bundled model's context allows 2046 bytes; a 16-bit stereo frame is 4, so the
  // default must round down to 2044 rather than refuse the file.
  std::string dir = test::temp_dir() + "/evalstereo";
  std::filesystem::create_directories(dir);
  wav_file("evalstereo/s.wav");
  std::string json = test::temp_dir() + "/stereo.json";
  CmdResult r = run("eval --audio-dir " + dir +
                    " --bit-depth 16 --num-chunks 1 --compressors lm,flac --no-whole --json " + json + " > /dev/null");
  ASSERT_EQ(r.code, 0) << r.err;
  Bytes j = test::read_bytes(json);
  EXPECT_NE(std::string(j.begin(), j.end()).find("\"chunk_size\": 2044"), std::string::npos);
}

// lmac bench: decode after a context, and where each pass's time went.
TEST(Cli, BenchProfilesOperationsAndDecodesAfterAContext) {
  const std::string json = test::temp_dir() + "/bench.json";
  const std::string out =
      output_of("bench --prefill 16 --decode 2 --batches 1,3 --context 5 --reps 1 --profile --json " + json);
  EXPECT_NE(out.find("decode batch   3, 2 steps after 5 tokens"), std::string::npos) << out;
  for (const char* op : {"matmul Q8_0", "attention", "rmsnorm", "store_kv"})
    EXPECT_NE(out.find(op), std::string::npos) << op << "\n" << out;
  const Bytes j = test::read_bytes(json);
  const std::string text(j.begin(), j.end());
  EXPECT_NE(text.find("\"decode_context\": 5"), std::string::npos) << text;
  // The bundled model's half KV cache: 2304 bytes a position.
  EXPECT_NE(text.find("\"kv_bytes_per_token\": 2304"), std::string::npos) << text;
  // The pages the sessions held, at most: three sequences of 8 positions, a page group of
  // 256 positions each (3 x 256 x 2304 bytes).
  EXPECT_NE(text.find("\"kv_cache_mb\": 1.769472"), std::string::npos) << text;
  // The weights the CPU backend holds in its own memory (Q8_0 tiles on AVX-512, copies of
  // the large matrices elsewhere): some, at most about the file's 16.2 MB.
  const size_t at = text.find("\"weights_mb\": ");
  ASSERT_NE(at, std::string::npos) << text;
  const double weights_mb = std::stod(text.substr(at + 14));
  EXPECT_GT(weights_mb, 5.0) << text;
  EXPECT_LT(weights_mb, 18.0) << text;
}

TEST(Cli, ModelInfoSaysWhatTheWeightsTakeWhenAsked) {
  EXPECT_EQ(output_of("model-info").find("weights in use"), std::string::npos);
  for (const char* device : {"cpu", "grid"}) {
    const std::string out = output_of(std::string("--device ") + device + " model-info --memory");
    EXPECT_NE(out.find(std::string("MB on ") + device + " ("), std::string::npos) << out;
    EXPECT_NE(out.find("x the file's 16.2 MB)"), std::string::npos) << out;
  }
}

TEST(Cli, MissingOrWrongModelIsAClearError) {
  std::string in = wav_file("m.wav");
  CmdResult r = run("compress -f -m " + test::temp_dir() + "/no-such-model.gguf " + in);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("no-such-model.gguf"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(in + ".lmac"));
  ASSERT_EQ(run("compress -f -m builtin:order2 " + in).code, 0);
  r = run("decompress -f -m " + std::string(LMAC_SOURCE_DIR) + "/models/tinyllama-text-15m-q8_0.gguf " + in +
          ".lmac -o " + in + ".out");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("wrong model"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(in + ".out"));
}

}  // namespace
}  // namespace lmac
