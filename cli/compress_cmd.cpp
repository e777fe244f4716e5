// lmac compress / lmac decompress.
#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <utility>

#include "cli_common.hpp"
#include "lmac/codec/file_codec.hpp"
#include "lmac/common/file_io.hpp"
#include "lmac/common/parallel.hpp"
#include "lmac/eval/run.hpp"
#include "lmac/models/model_registry.hpp"

namespace lmac::cli {
namespace {

struct IoFlags {
  std::vector<std::string> inputs;
  std::string output;
  bool force = false, keep = false, to_stdout = false, remove = false;
};

void add_io(CLI::App* c, IoFlags& io) {
  c->add_option("inputs", io.inputs, "input files ('-' for stdin)")->required();
  c->add_option("-o,--output", io.output, "output file ('-' for stdout); one input only");
  c->add_flag("-f,--force", io.force, "overwrite existing outputs");
  c->add_flag("-k,--keep", io.keep, "keep input files (the default; see --rm)");
  c->add_flag("--rm", io.remove, "delete each input after its output is written");
  c->add_flag("-c,--stdout", io.to_stdout, "write to standard output");
}

// Whether a stream restores a WAV made from another format (FLAC, OGG, ...).
bool restores_decoded(ByteSpan head) { return peek_container(head) == Container::Decoded; }

bool restores_decoded(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  uint8_t head[kContainerPeekBytes] = {};
  return f.read(reinterpret_cast<char*>(head), sizeof head) && restores_decoded(ByteSpan(head));
}

std::string output_for(const IoFlags& io, const std::string& in, bool compressing) {
  if (io.to_stdout || (!io.output.empty() && io.output == "-")) return "-";
  if (!io.output.empty()) return io.output;
  if (in == "-") return "-";
  if (compressing) return in + ".lmac";
  if (in.size() > 5 && in.ends_with(".lmac")) {
    std::filesystem::path name = in.substr(0, in.size() - 5);
    // x.flac.lmac gives back a WAV, not a FLAC file: name it for what it is.
    if (restores_decoded(in) && name.extension() != ".wav") name.replace_extension(".wav");
    return name.string();
  }
  return in + ".out";
}

// An input's size in bytes; 0 for stdin or a file that cannot be read (its error comes
// when it is opened).
uint64_t input_size(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = path == "-" ? 0 : std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<uint64_t>(size);
}

// Under mpirun, each input goes to one rank (balanced by size); alone, all are ours.
std::vector<std::string> my_inputs(const std::vector<std::string>& inputs) {
  World& w = world();
  if (w.size() == 1) return inputs;
  std::vector<size_t> items(inputs.size());
  std::vector<uint64_t> sizes(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    items[i] = i;
    sizes[i] = input_size(inputs[i]);
  }
  std::vector<std::string> mine;
  const auto parts = split_by_cost(items, sizes, w.size());
  for (size_t i : parts[static_cast<size_t>(w.rank())]) mine.push_back(inputs[i]);
  return mine;
}

// Inputs larger than this run alone, after the others: they have chunks for every thread
// of their own (64 chunks of 16-bit stereo audio), and files side by side are all in
// memory at once.
constexpr uint64_t kAloneBytes = uint64_t{16} << 20;

// Whether the inputs may be coded side by side, each a task of the work pool: several
// files (no stdin or stdout), more than one thread. The chunks and trials of each file
// still take threads that the others leave idle (nested tasks).
bool side_by_side(const IoFlags& io, const std::vector<std::string>& inputs) {
  if (inputs.size() < 2 || thread_count() < 2 || io.to_stdout || !io.output.empty()) return false;
  return std::none_of(inputs.begin(), inputs.end(), [](const std::string& in) { return in == "-"; });
}

// One progress line for files coded side by side (each file's own bar would overwrite
// the others'); drawn only when stderr is a terminal (and not -q).
class FilesProgress {
 public:
  // sizes: the inputs' bytes where they are audio (they give the KB/s), else 0.
  FilesProgress(const std::string& verb, const std::vector<uint64_t>& sizes, bool audio)
      : bar_(verb, audio ? std::accumulate(sizes.begin(), sizes.end(), size_t{0}) : 0, "files"),
        report_(bar_.callback()),
        total_(sizes.size()) {}
  void file_done() {
    std::lock_guard g(lock_);
    ++done_;
    if (report_) report_(done_, total_);
  }
  // Ends a line that stopped short (inputs left to run alone draw their own below it).
  ~FilesProgress() {
    if (report_ && done_ > 0 && done_ < total_) fmt::print(stderr, "\n");
  }
  FilesProgress(const FilesProgress&) = delete;
  FilesProgress& operator=(const FilesProgress&) = delete;

 private:
  Progress bar_;
  std::function<void(size_t, size_t)> report_;
  size_t total_, done_ = 0;
  std::mutex lock_;
};

// Runs fn(in, out, own_progress) on each input, reporting errors per file; returns the
// exit code. Under mpirun, each input goes to one rank (balanced by size); alone, all
// are ours. Inputs run side by side where side_by_side allows it; fn may then throw
// Deferred for an input it wants to run alone with every thread (a model that splits
// each step between threads), which runs after the others. own_progress: whether fn
// may draw a progress bar of its own (not beside other files).
struct Deferred {};

template <typename Fn>
int each_input(const IoFlags& io, bool compressing, Fn&& fn) {
  if (!io.output.empty() && io.inputs.size() > 1) throw CLI::ValidationError("-o needs exactly one input");
  if (io.keep && io.remove) throw CLI::ValidationError("-k and --rm contradict each other");
  if (io.to_stdout && !io.output.empty() && io.output != "-")
    throw CLI::ValidationError("-c and -o contradict each other: write to standard output or to a file");
  const bool to_stdout = io.to_stdout || io.output == "-" || (io.output.empty() && io.inputs.front() == "-");
  if (compressing && to_stdout && ::isatty(STDOUT_FILENO))  // as xz and zstd: a stream is no text for a terminal
    throw CLI::ValidationError("compressed data not written to a terminal; redirect standard output or use -o");
  if (io.to_stdout && io.inputs.size() > 1)
    throw CLI::ValidationError(
        "-c with several inputs would write one stream after another, which lmac cannot read back; give one input");
  const std::vector<std::string> mine = my_inputs(io.inputs);
  std::vector<int> rc(mine.size(), kOk);
  std::vector<char> noted(mine.size(), 0);
  // Returns false where fn deferred the input.
  const auto one = [&](size_t i, bool beside_others) {
    const std::string& in = mine[i];
    std::string out = output_for(io, in, compressing);
    if (!compressing && out == in + ".out" && !std::exchange(noted[i], 1))
      note(fmt::format("{}: no .lmac suffix to drop: restoring into {}", in, out));
    try {
      std::error_code ec;
      if (in != "-" && out != "-" && std::filesystem::equivalent(in, out, ec))
        fail("the output " + out + " is the input file (nothing written)");
      const OutputKind kind = output_kind(out);
      if (kind == OutputKind::File && !io.force) fail("output " + out + " exists (use -f to overwrite)");
      if (kind == OutputKind::Directory) fail("output " + out + " is a directory");
      if (kind == OutputKind::Dangling) fail("output " + out + " is a link to nothing");
      if (io.remove && in != "-" && (kind == OutputKind::Device || kind == OutputKind::Stdout))  // nothing keeps them
        fail("--rm with output " + (out == "-" ? std::string("to stdout") : out) +
             ", which is not a file: the input would be deleted (nothing written)");
      fn(in, out, !beside_others);
      if (io.remove && in != "-") std::filesystem::remove(in);
    } catch (const Deferred&) {
      return false;
    } catch (const CLI::ParseError&) {
      throw;
    } catch (const std::exception& e) {
      report_error(input_name(in), e.what());
      rc[i] = kError;
    }
    return true;
  };
  std::vector<size_t> alone;
  if (side_by_side(io, mine)) {
    verbose(fmt::format("{} files side by side on {} threads", mine.size(), thread_count()));
    std::vector<uint64_t> sizes(mine.size());
    std::transform(mine.begin(), mine.end(), sizes.begin(), input_size);
    FilesProgress progress(compressing ? "compress" : "decompress", sizes, compressing);
    std::vector<char> ran(mine.size(), 1);
    parallel_tasks(thread_count(), mine.size(), [&](size_t i) {
      ran[i] = sizes[i] <= kAloneBytes && one(i, true);
      if (ran[i]) progress.file_done();
    });
    for (size_t i = 0; i < mine.size(); ++i)
      if (!ran[i]) {
        verbose(fmt::format("{}: {}: coded after the others, alone", input_name(mine[i]),
                            sizes[i] > kAloneBytes ? "large" : "its model splits each step between threads"));
        alone.push_back(i);
      }
  } else {
    for (size_t i = 0; i < mine.size(); ++i) alone.push_back(i);
  }
  for (size_t i : alone) one(i, false);
  const int mine_rc = rc.empty() ? kOk : *std::max_element(rc.begin(), rc.end());  // a rank may have no inputs
  return world().max_all(mine_rc);  // every rank exits with the job's verdict
}

// Models by spec, each loaded once for all inputs (decompress: each stream names its
// own), shared by inputs coded side by side.
class ModelCache {
 public:
  const CodecModel& get(const std::string& spec) {
    std::lock_guard g(lock_);
    auto& m = models_[spec];
    if (!m) m = load_model(spec);
    return *m;
  }

 private:
  std::mutex lock_;
  std::map<std::string, std::unique_ptr<CodecModel>> models_;
};

}  // namespace

void add_compress(CLI::App& app) {
  auto* c = app.add_subcommand("compress", "compress audio files to .lmac");
  static IoFlags io;
  static std::string model, mapping = "shift", layout = "interleaved", byte_order = "msb", raw,
                            tokenization = "subword";
  static uint32_t chunk = 0;
  static int blocking = 0, batch = 0;
  static bool no_offset = false, verify = false, model_only = false, exhaustive = false;
  static double mix_margin = 1.0;
  add_io(c, io);
  c->add_option("-m,--model,--model_path,--model-path", model,
                "model: mix (the default: the bundled language model mixed with lmac's audio model), mix:GGUF, audio "
                "(the audio model alone, fast), a GGUF file (the language model alone, the paper's experiment) or "
                "builtin:order2");
  c->add_option("--chunk-size,--chunk_size", chunk,
                "chunk size in bytes, a multiple of the frame size "
                "(default: 2048, or the model's context minus 2 where that is less, e.g. 2046 with the bundled model; "
                "rounded down to whole frames; -m audio: 65536 frames; a mix (the default model): about 65536 frames "
                "in whole segments of what the language model's context holds, which starts afresh at each)")
      ->check(at_least(1));
  c->add_option("--mapping", mapping, "byte to 7-bit symbol: shift (byte>>1, the default) or mask (byte&127)")
      ->check(CLI::IsMember({"shift", "mask"}));
  c->add_option("--layout", layout, "channel layout: interleaved (the default), planar or blocked:N");
  c->add_option("--stereo-blocking-n,--stereo_blocking_n", blocking, "same as --layout blocked:N")->check(at_least(1));
  c->add_option("--byte-order", byte_order,
                "order of a sample's bytes: msb (most significant first, the default) or file (as stored)")
      ->check(CLI::IsMember({"msb", "file"}));
  c->add_flag("--no-offset-binary", no_offset, "keep signed samples as two's complement");
  c->add_flag("--verify", verify, "decode the new stream and compare it with the input before writing it");
  c->add_option("--format", raw, "raw PCM input format, e.g. s16le:2:44100");
  c->add_option("--tokenization", tokenization,
                "subword (the default; char for chunks the tokenizer cannot round-trip) or char")
      ->check(CLI::IsMember({"subword", "char"}));
  c->add_option("--batch", batch, kBatchHelp)->check(at_least(1));
  c->add_flag("--model-only", model_only,
              "code every chunk with the model, even where storing it as it is would be smaller, and with a mix, "
              "mix every chunk even where the audio model alone would be smaller (research; by default such "
              "chunks are stored or coded by the audio model alone, so no file grows beyond a few bytes per chunk, "
              "and a chunk stays mixed only where that saves --mix-margin)");
  c->add_option("--mix-margin", mix_margin,
                "a mix: keep a chunk mixed only where that saves at least this percent over the audio model alone "
                "(default 1: decoding a mixed chunk runs the language model over all of it; 0 keeps any saving, "
                "as lmac eval's mix row)")
      ->check(CLI::Range(0.0, 100.0));
  c->add_flag("-e,--exhaustive", exhaustive,
              "the audio model (audio, mix): choose its adaptive stages by coding each chunk with each at every "
              "sample width, as it does at 8 bits (smaller files at 16 bits and more, compressing about 2x slower; "
              "decoding is unchanged)");
  c->callback([] {
    action() = [] {
      CompressOptions o;
      try {
        o.serial.mapping = parse_mapping(mapping);
        o.serial.layout = parse_layout(layout, &o.serial.block_n);
        if (!raw.empty()) o.raw_format = parse_raw_format(raw);
      } catch (const Error& e) {
        throw CLI::ValidationError(e.what());  // a bad flag is a usage error (exit 2)
      }
      if (blocking > 0) {
        o.serial.layout = Layout::Blocked;
        o.serial.block_n = static_cast<uint32_t>(blocking);
      }
      o.serial.byte_order = byte_order == "msb" ? ByteOrder::MsbFirst : ByteOrder::FileOrder;
      o.serial.offset_binary = !no_offset;
      o.chunk_bytes = chunk;  // 0: chosen per file from its frame size
      o.codec.tokenization = tokenization == "char" ? TokenMode::Char : TokenMode::Subword;
      o.codec.batch = batch;
      o.codec.threads = thread_count();
      o.codec.store_incompressible = !model_only;
      o.codec.exhaustive = exhaustive;
      o.codec.mixed_min_saving_per_mille = static_cast<uint32_t>(std::lround(mix_margin * 10));
      const std::string spec = expand_model_spec(model.empty() ? "mix" : model);
      std::unique_ptr<CodecModel> m;
      try {
        m = load_model(spec);
      } catch (const std::exception& e) {
        report_error(spec, e.what());
        return static_cast<int>(kError);
      }
      // A mix's stream with no chunk mixed names the audio model: it decodes without the
      // language model (not with --model-only, which mixes every chunk).
      const std::unique_ptr<CodecModel> alone =
          m->audio_mixing() == AudioMixing::WithLanguageModel ? load_model("audio") : nullptr;
      o.alone = alone.get();
      return each_input(io, true, [&](const std::string& in, const std::string& out, bool own_progress) {
        if (!own_progress && !m->parallel_predictors()) throw Deferred{};
        Bytes file = read_file(in);
        const std::string name = input_name(in);
        Progress bar("compress " + name, file.size());
        CompressOptions fo = o;
        if (own_progress) fo.codec.progress = bar.callback();
        fo.codec.note = codec_note(name);
        StreamHeader header;
        Bytes packed = compress_audio(*m, file, fo, &header);
        const bool named_alone = alone && header.model_name == alone->name();
        bar.finish();
        if (verify) {  // like flac --verify: refuse to write a stream that does not give the input back
          Progress check("verify " + name, file.size());
          if (own_progress) fo.codec.progress = check.callback();
          if (decompress_audio(named_alone ? *alone : *m, parse_lmac(packed), fo.codec, false).file != file)
            fail("verification failed: the stream does not decode to the input (nothing written)");
          check.finish();
        }
        write_file_atomic(out, packed, io.force);
        if (named_alone)
          verbose(name +
                  ": no chunk was mixed with the language model: the stream names the audio model alone, "
                  "and decoding it needs no language model");
        if (restores_decoded(ByteSpan(packed)))
          note(fmt::format(
              "{}: not WAV or AIFF: its samples are kept, but decompress gives them back as a WAV file (tags in "
              "LIST/INFO), not this file's own format",
              name));
        verbose(fmt::format("{}: {} -> {} bytes ({:.2f}%), {:.1f} s, {:.1f} KB/s", name, file.size(), packed.size(),
                            file.empty() ? 0.0 : 100.0 * packed.size() / file.size(), bar.seconds(),
                            file.size() / 1000.0 / std::max(bar.seconds(), 1e-9)));
      });
    };
  });
}

void add_decompress(CLI::App& app) {
  auto* c = app.add_subcommand("decompress", "restore audio files from .lmac");
  static IoFlags io;
  static std::string model;
  static int batch = 0;
  static bool keep_going = false;
  add_io(c, io);
  c->add_option("-m,--model,--model_path,--model-path", model,
                "model (default: builtin:order2 for streams made with it, else the bundled model; a stream made with "
                "another GGUF needs it here)");
  c->add_option("--batch", batch, kBatchHelp)->check(at_least(1));
  c->add_flag("--keep-going", keep_going,
              "decode every intact chunk; damaged ones become digital silence of the format (0, or 0x80 for "
              "unsigned 8-bit) and the exit code is 1");
  c->callback([] {
    action() = [] {
      ModelCache models;
      return each_input(io, false, [&](const std::string& in, const std::string& out, bool own_progress) {
        Bytes file = read_file(in);
        const std::string name = input_name(in);
        ParsedStream parsed = parse_lmac(file, keep_going);
        const std::string spec = decode_model_spec(model, parsed.stream.header.model_name);
        if (spec == "audio" && !model.empty() && expand_model_spec(model) != spec)  // else -m goes unread unsaid
          verbose(fmt::format("{}: the stream names the audio model, which needs no language model: -m {} not loaded",
                              name, model));
        const CodecModel& m = models.get(spec);
        if (!own_progress && !m.parallel_predictors()) throw Deferred{};
        CodecOptions o;
        o.batch = batch;
        o.threads = thread_count();
        Progress bar("decompress " + name, parsed.stream.header.data_bytes);
        if (own_progress) o.progress = bar.callback();
        o.note = codec_note(name);
        DecompressResult r = decompress_audio(m, parsed, o, keep_going);
        bar.finish();
        write_file_atomic(out, r.file, io.force);
        verbose(fmt::format("{}: {} -> {} bytes restored (the stream was {:.2f}% of them), {:.1f} s, {:.1f} KB/s", name,
                            file.size(), r.file.size(), r.file.empty() ? 0.0 : 100.0 * file.size() / r.file.size(),
                            bar.seconds(), r.file.size() / 1000.0 / std::max(bar.seconds(), 1e-9)));
        if (!r.end_damage.empty()) report_error(name, "end of stream: " + r.end_damage);
        if (!r.bad_chunks.empty()) {
          for (const auto& e : r.errors) report_error(name, e);
          fail(fmt::format("{} damaged chunks replaced by silence in {}", r.bad_chunks.size(), out));
        }
        if (!r.end_damage.empty()) fail(fmt::format("every chunk intact and restored in {}", out));
      });
    };
  });
}

}  // namespace lmac::cli
