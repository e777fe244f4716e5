// lmac eval: the zero-shot evaluation (the plan's zero_shot.py) as one command.
#include <fmt/format.h>

#include <unistd.h>
#include <filesystem>

#include <chrono>

#include "cli_common.hpp"
#include "lmac/common/arithmetic_revision.hpp"
#include "lmac/common/file_io.hpp"
#include "lmac/common/hash.hpp"
#include "lmac/eval/report.hpp"
#include "lmac/eval/run.hpp"
#include "lmac/models/model_registry.hpp"

namespace lmac::cli {
namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t at; (at = s.find(',', start)) != std::string::npos; start = at + 1)
    out.push_back(s.substr(start, at - start));
  out.push_back(s.substr(start));
  return out;
}

void write_text(const std::string& path, const std::string& text, bool force) {
  write_file_atomic(path, ByteSpan(reinterpret_cast<const uint8_t*>(text.data()), text.size()), force || path == "-");
}

std::function<void(const std::string&, size_t, size_t)> eval_progress(double bytes) {
  // Under mpirun stderr is a pipe to mpirun: rank 0 then reports in plain lines.
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  if (globals().verbosity < 1 || (!tty && world().size() == 1)) return {};
  using Clock = std::chrono::steady_clock;
  auto start = std::make_shared<Clock::time_point>(Clock::now());
  auto last_line = std::make_shared<Clock::time_point>(Clock::now());
  auto label_seen = std::make_shared<std::string>();
  auto ended = std::make_shared<bool>(false);
  return [=](const std::string& label, size_t done, size_t total) {
    const auto now = Clock::now();
    if (label != *label_seen) {
      *label_seen = label;
      *start = now;
    }
    const double seconds = std::chrono::duration<double>(now - *start).count();
    if (tty) return draw_progress(fmt::format("{:<8}", label), done, total, seconds, bytes);
    if ((done != total && now - *last_line < std::chrono::seconds(15)) || (done == total && *ended)) return;
    *last_line = now;
    *ended = done == total;
    fmt::print(stderr, "lmac: {} {}/{} chunks ({:.0f}%), {:.0f} s, ETA {:.0f} s\n", label, done, total,
               total ? 100.0 * double(done) / double(total) : 100.0, seconds,
               done ? seconds * double(total - done) / double(done) : 0.0);
  };
}

// Everything that shapes an evaluation's results (not which compressors run: each one's
// chunks are recorded under its name).
std::string run_identity(nlohmann::json options, const Dataset& data, const CodecModel* model) {
  options.erase("compressors");
  const std::string id = fmt::format("{} rev{} {} {:016x} {:016x}", LMAC_VERSION, kArithmeticRevision, options.dump(),
                                     data.file_list_hash, model ? model->fingerprint() : 0);
  return fmt::format("{:016x}", hash64(id.data(), id.size()));
}

// Rank 0 creates the file (or checks it is this run's); then every rank opens it.
std::unique_ptr<Checkpoint> open_checkpoint(const std::string& path, const std::string& identity, World& w) {
  std::unique_ptr<Checkpoint> cp;
  on_rank0(w, [&] { cp = std::make_unique<Checkpoint>(path, identity, true); });
  if (w.rank() != 0) cp = std::make_unique<Checkpoint>(path, identity, false);
  return cp;
}

}  // namespace

void add_eval(CLI::App& app) {
  auto* c = app.add_subcommand("eval", "zero-shot evaluation of the LM and classical compressors on audio folders");
  static DatasetOptions d;
  static std::string compressors = "lm,audio,mix,gzip,lzma2,zstd19,zstd22,bzip2,brotli,flac,wavpack", model,
                     channels = "interleave";
  static std::string sample = "sequential", json_out, csv_out, plot_out, mapping = "shift", tokenization = "subword",
                     checkpoint;
  static std::vector<std::string> merge;
  static int blocking = 0, batch = 0;
  static bool paper = false, no_verify = false, no_whole = false, use_16bit = false, force = true, exhaustive = false;
  static uint32_t chunk = 0;
  c->add_option("--audio-dir,--audio_dir", d.dirs, "folder of audio, read recursively (repeatable)");
  c->add_option("--bit-depth,--bit_depth", d.bit_depth,
                "convert the audio to 8, 16, 24 or 32 bits (default 8, the paper's)")
      ->check(CLI::IsMember({8, 16, 24, 32}));
  c->add_flag("--use_16bit", use_16bit, "deprecated: same as --bit-depth 16");
  c->add_option("--chunk-size,--chunk_size", chunk,
                "chunk size in bytes (default: 2048, or the model's context minus 2 where that is less; rounded down "
                "to whole stereo frames: 2046 at 8 and 24 bits, 2044 at 16 and 32 with the bundled model)");
  c->add_option("--num-chunks,--num_chunks", d.num_chunks, "chunks to evaluate (default 0: all)");
  c->add_option("--compressors", compressors,
                "comma-separated (default all): lm (the language model alone), audio (lmac's audio model alone), mix "
                "(the two mixed), gzip,lzma2,zstd19,zstd22,bzip2,brotli,flac,wavpack");
  c->add_option("-m,--model,--model_path,--model-path", model, "language model for lm and mix (default: bundled)");
  c->add_option("--channels", channels, "first, interleave (the default), blocked:N or mixdown");
  c->add_option("--stereo-blocking-n,--stereo_blocking_n", blocking, "same as --channels blocked:N")
      ->check(at_least(1));
  c->add_option("--sample", sample, "sequential (sorted files, the paper's; the default) or random")
      ->check(CLI::IsMember({"sequential", "random"}));
  c->add_option("--seed", d.seed, "seed for --sample random (default 0)");
  c->add_flag("--drop-partial", d.drop_partial, "drop the last partial chunk of each file (the paper's)");
  c->add_flag("--paper", paper,
              "the paper's setting: 8-bit high byte, shift mapping, 2048-byte chunks, partial chunks dropped");
  c->add_option("--mapping", mapping, "byte to 7-bit symbol: shift (byte>>1, the default) or mask (byte&127)")
      ->check(CLI::IsMember({"shift", "mask"}));
  c->add_option("--tokenization", tokenization, "subword (the default) or char")
      ->check(CLI::IsMember({"subword", "char"}));
  c->add_option("--batch", batch, kBatchHelp)->check(at_least(1));
  c->add_flag("--no-verify", no_verify, "do not decode and compare every chunk");
  c->add_flag("--no-whole", no_whole, "skip the unchunked (whole-file) runs");
  c->add_flag("-e,--exhaustive", exhaustive,
              "audio and mix: search the audio model's stages by coding at every sample width, as lmac compress -e "
              "(smaller, slower to compress)");
  c->add_option("--json", json_out, "write the report as JSON");
  c->add_option("--csv", csv_out, "write one CSV row per compressor");
  c->add_option("--plot", plot_out, "write an SVG chart");
  c->add_option("--checkpoint", checkpoint,
                "record finished chunks in this file as they complete; a rerun with the same arguments skips them "
                "(safe with many ranks; refused for another run)");
  c->add_option("--merge", merge, "merge earlier JSON reports (e.g. several bit depths) instead of running")
      ->expected(1, -1);
  c->callback([] {
    action() = [] {
      // Where the results go is checked before a run that may take hours.
      on_rank0(world(), [] {
        for (const std::string* out : {&json_out, &csv_out, &plot_out}) {
          if (out->empty() || *out == "-") continue;
          const std::filesystem::path dir = std::filesystem::absolute(*out).parent_path();
          if (!std::filesystem::is_directory(dir) || ::access(dir.c_str(), W_OK) != 0)
            throw Error(*out + ": cannot write there (no such directory, or not writable)");
          if (!force && file_exists(*out)) throw Error(*out + ": exists");
        }
      });
      if (paper && (d.bit_depth != 8 || use_16bit))
        throw CLI::ValidationError("--paper is the 8-bit setting; it contradicts --bit-depth " +
                                   std::to_string(use_16bit ? 16 : d.bit_depth));
      std::vector<nlohmann::json> reports;
      if (!merge.empty()) {
        if (world().rank() != 0) return static_cast<int>(kOk);
        for (const auto& m : merge) {
          const Bytes b = read_input(m);
          nlohmann::json j = nlohmann::json::parse(b.begin(), b.end(), nullptr, false);
          check_report(j, m);
          reports.push_back(j);
        }
      } else {
        if (use_16bit) {
          fmt::print(stderr, "lmac: warning: --use_16bit is deprecated; use --bit-depth 16\n");
          d.bit_depth = 16;
        }
        if (paper) {
          d.bit_depth = 8;
          d.drop_partial = true;
          mapping = "shift";
        }
        d.channels = parse_channel_mode(channels, &d.block_n);
        if (blocking > 0) {
          d.channels = ChannelMode::Blocked;
          d.block_n = static_cast<uint32_t>(blocking);
        }
        d.random = sample == "random";
        EvalOptions o;
        o.compressors = split_list(compressors);
        std::shared_ptr<const CodecModel> m;
        std::unique_ptr<CodecModel> audio_model, mix_model;
        auto wanted = [&](const char* n) {
          return std::find(o.compressors.begin(), o.compressors.end(), n) != o.compressors.end();
        };
        if (wanted("lm") || wanted("mix")) {
          std::string spec = model.empty() ? default_model_spec() : model;
          try {
            m = load_model(spec);
            if (m->audio_mixing() != AudioMixing::None) fail("-m names a language model here (mix is its own row)");
          } catch (const std::exception& e) {
            report_error(spec, e.what());
            return static_cast<int>(kError);
          }
          o.model = m.get();
          o.model_parameters = m->parameter_count();
          if (wanted("mix")) o.mix_model = (mix_model = make_mixed_model(m)).get();
        }
        // (the mix's whole files where nothing was mixed are counted as lmac compress writes
        // them: naming the audio model)
        if (wanted("audio") || wanted("mix")) o.audio_model = (audio_model = load_model("audio")).get();
        for (const auto& n : o.compressors)
          if (!is_model_row(n)) make_compressor(n);  // refuse unknown names before reading any audio
        PcmFormat probe;
        probe.bits = static_cast<uint16_t>(d.bit_depth);
        probe.channels = 2;  // whole stereo frames, so stereo files chunk too (2044 at 16 bits, 2046 at 24)
        const uint32_t frame = static_cast<uint32_t>(probe.frame_bytes());
        d.chunk_bytes = chunk         ? chunk
                        : paper || !m ? kDefaultChunkBytes / frame * frame
                                      : default_chunk_bytes(*m, probe);
        Dataset data = load_dataset(d);
        if (world().rank() == 0)
          for (const auto& [path, why] : data.skipped) report_error(path, "skipped: " + why);
        o.serial.mapping = parse_mapping(mapping);
        o.tokenization = tokenization == "char" ? TokenMode::Char : TokenMode::Subword;
        o.verify = !no_verify;
        o.whole_files = !no_whole;
        o.exhaustive = exhaustive;
        o.threads = thread_count();
        o.batch = batch;
        o.progress = eval_progress(static_cast<double>(data.chunked_bytes()));
        nlohmann::json options = {{"audio_dirs", d.dirs},
                                  {"bit_depth", d.bit_depth},
                                  {"chunk_size", d.chunk_bytes},
                                  {"num_chunks", d.num_chunks},
                                  {"channels", channels},
                                  {"sample", sample},
                                  {"seed", d.seed},
                                  {"drop_partial", d.drop_partial},
                                  {"paper", paper},
                                  {"mapping", mapping},
                                  {"tokenization", tokenization},
                                  {"compressors", o.compressors},
                                  {"verify", o.verify},
                                  {"whole_files", o.whole_files},
                                  {"exhaustive", o.exhaustive}};
        World& w = world();
        std::unique_ptr<Checkpoint> cp;
        if (!checkpoint.empty()) cp = open_checkpoint(checkpoint, run_identity(options, data, m.get()), w);
        RunOutcome run = run_evaluation(data, o, w, cp.get());
        if (w.rank() != 0) return run.failed_here ? static_cast<int>(kError) : static_cast<int>(kOk);
        if (!run.failure.empty()) {
          report_error("", run.failure + (cp ? " (finished chunks are kept in " + checkpoint + ")" : ""));
          return static_cast<int>(kError);
        }
        const auto& results = run.results;
        reports.push_back(report_json(data, results, options, m ? m->name() : "", m ? m->fingerprint() : 0));
        reports.back()["ranks"] = w.size();
        reports.back()["gather_seconds"] = run.gather_seconds;
      }
      for (const auto& r : reports) fmt::print("{}\n", format_table(r));
      if (!json_out.empty())
        write_text(json_out, (reports.size() == 1 ? reports[0] : nlohmann::json(reports)).dump(2) + "\n", force);
      if (!csv_out.empty()) write_text(csv_out, format_csv(reports), force);
      if (!plot_out.empty()) write_text(plot_out, format_svg(reports), force);
      return static_cast<int>(kOk);
    };
  });
}

}  // namespace lmac::cli
