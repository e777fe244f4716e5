// lmac model-info, tokenize, score and bench: the Llama engine from the command line.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "cli_common.hpp"
#include "lmac/common/file_io.hpp"
#include "lmac/lm/backend_check.hpp"
#include "lmac/lm/llama_model.hpp"

namespace lmac::cli {
namespace {

std::unique_ptr<LlamaModel> load_llama(const std::string& spec) {
  const std::string path = spec.empty() ? default_model_spec() : spec;
  try {
    return LlamaModel::load(path);
  } catch (const std::exception& e) {
    throw Error(path + ": " + e.what());  // the one-line error names the model file
  }
}

// Only the tokenizer: llama.cpp's vocab-only GGUF files (ggml-vocab-*.gguf) have no tensors.
struct TokenizerFile {
  std::unique_ptr<GgufFile> file;
  std::unique_ptr<Tokenizer> tokenizer;
};
TokenizerFile load_tokenizer(const std::string& spec) {
  const std::string path = spec.empty() ? default_model_spec() : spec;
  try {
    TokenizerFile t;
    t.file = GgufFile::open(path);
    t.tokenizer = Tokenizer::from_gguf(*t.file);
    return t;
  } catch (const std::exception& e) {
    throw Error(path + ": " + e.what());
  }
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// What the weights take in the selected device's memory once a session has prepared
// them (lmac model-info --memory): tiles whose quants are wider than the file's (the
// lattice and ternary types) take more than the file; what stays on the mapped file
// (looked-up rows, norms) is paged in as it is read.
void print_weight_memory(const LlamaModel& m) {
  const LlamaSession s(m, make_backend(thread_count()));
  const double weights = double(s.backend().weight_bytes()) / 1e6, file = m.file().file_size() / 1e6;
  fmt::print("weights in use  {:.1f} MB on {} ({:.2f}x the file's {:.1f} MB){}\n", weights, s.backend().name(),
             weights / file, file,
             s.backend().host_memory() ? "; rows only looked up and the norms stay on the mapped file" : "");
}

}  // namespace

// Where a pass's time went, largest first (lmac bench --profile).
void print_profile(const OpTimes& t) {
  std::vector<std::pair<std::string, OpTimes::Op>> ops(t.ops.begin(), t.ops.end());
  std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  double total = 0;
  for (const auto& [name, op] : ops) total += op.seconds;
  for (const auto& [name, op] : ops)
    fmt::print("    {:<26} {:7} calls {:10.2f} ms {:5.1f} %\n", name, op.calls, op.seconds * 1e3,
               total > 0 ? 100 * op.seconds / total : 0.0);
}

void add_model_commands(CLI::App& app) {
  {
    auto* c = app.add_subcommand("model-info", "describe a GGUF model");
    static std::string path;
    static bool memory = false;
    c->add_option("model", path, "GGUF file (default: bundled)");
    c->add_flag("--memory", memory,
                "also prepare the weights on the device (--device) as a run does and print the memory they take there "
                "(seconds for a large model)");
    c->callback([] {
      action() = [] {
        auto m = load_llama(path);
        const LlamaConfig& k = m->config();
        std::map<std::string, uint64_t> types;
        for (const auto& t : m->file().tensors()) types[ggml_type_info(t.type).name] += t.elements();
        fmt::print("name            {}\narchitecture    llama (GGUF v{}, alignment {})\n", k.name, m->file().version(),
                   m->file().alignment());
        fmt::print("parameters      {} ({:.2f} M), file {:.1f} MB\n", m->parameter_count(), m->parameter_count() / 1e6,
                   m->file().file_size() / 1e6);
        fmt::print("shape           {} layers, width {}, FFN {}, heads {} / {} kv (head size {}), vocab {}\n",
                   k.n_layer, k.n_embd, k.n_ff, k.n_head, k.n_head_kv, k.head_dim, k.n_vocab);
        fmt::print("positions       RoPE base {}, {} rotated dims{}, context {}\n", k.rope_base, k.rot_dim,
                   m->rope_factors() ? ", rope_freqs" : "", k.n_ctx);
        fmt::print("output          {}\nnorm epsilon    {}\n", k.tied_output ? "tied to token_embd" : "output.weight",
                   k.rms_eps);
        std::string ts;
        for (const auto& [t, n] : types) ts += fmt::format("{}{} {:.2f} M", ts.empty() ? "" : ", ", t, n / 1e6);
        fmt::print("tensor types    {}\n", ts);
        fmt::print("tokenizer       {}, {} tokens, BOS {}\n", m->tokenizer().kind(), m->tokenizer().vocab_size(),
                   m->tokenizer().bos());
        fmt::print("KV cache        IEEE half (f16), {} bytes per token\n", k.kv_bytes_per_token());
        fmt::print("fingerprint     {:016x}\nkernels         {}\n", m->fingerprint(), cpu_simd_name());
        if (memory) print_weight_memory(*m);
        return static_cast<int>(kOk);
      };
    });
  }
  {
    auto* c = app.add_subcommand("tokenize", "token ids of the raw bytes on stdin (or the reverse)");
    static std::string path;
    static bool detok = false;
    c->add_option("-m,--model", path, "GGUF file (default: bundled)");
    c->add_flag("--detokenize", detok, "read ids, write the text bytes");
    c->callback([] {
      action() = [] {
        const TokenizerFile t = load_tokenizer(path);
        Bytes in = read_file("-");
        if (detok) {
          std::istringstream s(std::string(in.begin(), in.end()));
          std::vector<int32_t> ids;
          for (std::string word; s >> word;) {
            int32_t id = 0;
            const auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), id);
            if (ec != std::errc() || end != word.data() + word.size())
              throw Error(fmt::format("stdin: '{}' is not a token id", word.substr(0, 40)));
            ids.push_back(id);
          }
          std::string text;
          try {
            text = t.tokenizer->decode(ids);
          } catch (const Error& e) {
            throw Error(std::string("stdin: ") + e.what());
          }
          fwrite(text.data(), 1, text.size(), stdout);
        } else {
          auto ids = t.tokenizer->encode(std::string_view(reinterpret_cast<const char*>(in.data()), in.size()));
          fmt::print("{}\n", fmt::join(ids, " "));
        }
        return static_cast<int>(kOk);
      };
    });
  }
  {
    auto* c = app.add_subcommand("score", "per-token log2 probabilities and bits per byte of a text");
    static std::string path, file;
    static bool per_token = false;
    c->add_option("-m,--model", path, "GGUF file (default: bundled)");
    c->add_option("file", file, "text file ('-' for stdin)")->required();
    c->add_flag("--per-token", per_token, "print every token's log2 probability");
    c->callback([] {
      action() = [] {
        auto m = load_llama(path);
        Bytes in = read_input(file);
        auto ids = m->tokenizer().encode(std::string_view(reinterpret_cast<const char*>(in.data()), in.size()));
        LlamaSession s(*m, make_backend(thread_count()));
        const size_t V = m->config().n_vocab, window = m->config().n_ctx - 1;
        double bits = 0;
        for (size_t start = 0, seq = 0; start < ids.size(); start += window, ++seq) {
          // Each window of the context starts with BOS, like the codec's chunks.
          std::vector<BatchToken> b{{static_cast<uint32_t>(seq), m->tokenizer().bos()}};
          size_t end = std::min(ids.size(), start + window);
          for (size_t i = start; i + 1 < end; ++i) b.push_back({static_cast<uint32_t>(seq), ids[i]});
          std::vector<float> logits(b.size() * V);
          s.forward(b, {}, logits.data());
          s.drop(static_cast<uint32_t>(seq));
          for (size_t k = 0; k < b.size(); ++k) {
            const float* l = &logits[k * V];
            double mx = *std::max_element(l, l + V), sum = 0;
            for (size_t v = 0; v < V; ++v) sum += std::exp(double(l[v]) - mx);
            double lp2 = (double(l[ids[start + k]]) - mx - std::log(sum)) / std::log(2.0);
            bits -= lp2;
            if (per_token) fmt::print("{}\t{}\t{:.4f}\n", start + k, ids[start + k], lp2);
          }
        }
        fmt::print("{} bytes, {} tokens, {:.1f} bits, {:.4f} bits/byte, {:.4f} bits/token\n", in.size(), ids.size(),
                   bits, in.empty() ? 0.0 : bits / in.size(), ids.empty() ? 0.0 : bits / ids.size());
        return static_cast<int>(kOk);
      };
    });
  }
  {
    auto* c = app.add_subcommand("check-device",
                                 "compare the selected device with the CPU, operation by operation: same bits?");
    c->callback([] {
      action() = [] {
        auto cpu = make_cpu_backend(thread_count());
        auto dev = make_backend(thread_count());
        size_t bad = 0;
        for (const BackendCheck& r : compare_backends(*cpu, *dev)) {
          fmt::print("{:52} {:8} values  {}\n", r.name, r.outputs,
                     r.differing == 0 ? "identical" : fmt::format("{} DIFFER", r.differing));
          bad += r.differing;
        }
        fmt::print("{} against the CPU ({}): {}\n", dev->name(), cpu_simd_name(), bad == 0 ? "identical" : "DIFFERENT");
        return static_cast<int>(bad == 0 ? kOk : kError);
      };
    });
  }
  {
    auto* c = app.add_subcommand("bench", "engine speed: prefill and batched decode tokens/s, peak RSS");
    static std::string path, json_out;
    static int prefill = 512, decode = 128, reps = 3, context = 0;
    static std::vector<int> batches = {1, 8, 32};
    static bool profile = false;
    c->add_option("model", path, "GGUF file (default: bundled)");
    c->add_option("--prefill", prefill, "prompt tokens (llama-bench pp; default 512)")->check(at_least(1));
    c->add_option("--decode", decode, "generated tokens per sequence (llama-bench tg; default 128)")
        ->check(at_least(1));
    c->add_option("--batches", batches, "decode batch sizes (default 1,8,32)")->delimiter(',')->check(at_least(1));
    c->add_option("--reps", reps, "repetitions (the median is reported; default 3)")->check(at_least(1));
    c->add_option("--context", context, "tokens each decoding sequence holds before the timed steps (default 0)")
        ->check(at_least(0));
    c->add_option("--json", json_out, "write the figures as JSON");
    c->add_flag("--profile", profile, "time every operation (each waits for the device) and print where time goes");
    c->callback([] {
      action() = [] {
        auto m = load_llama(path);
        const auto n_ctx = static_cast<long long>(m->config().n_ctx);
        if (prefill > n_ctx || 1LL + context + decode > n_ctx)
          throw Error(
              fmt::format("{}: --prefill {} or 1 + --context {} + --decode {} is more than the model's "
                          "context of {} tokens",
                          path.empty() ? default_model_spec() : path, prefill, context, decode, n_ctx));
        const int threads = thread_count();
        const int32_t V = static_cast<int32_t>(m->config().n_vocab);
        std::mt19937 rng(1);
        auto random_token = [&] { return std::uniform_int_distribution<int32_t>(3, V - 1)(rng); };
        nlohmann::json j = {{"model", m->config().name},
                            {"threads", threads},
                            {"kernels", cpu_simd_name()},
                            {"device", selected_device()},
                            {"decode_context", context}};
        auto times = std::make_shared<OpTimes>();
        size_t kv_held = 0;       // the most KV cache pages any session held
        size_t weights_held = 0;  // the weights a session's backend holds in its own memory
        auto backend = [&] {
          auto be = make_backend(threads);
          return profile ? make_profiled_backend(std::move(be), times) : std::move(be);
        };
        auto run_prefill = [&](bool all_logits) {
          // One session for all repetitions, the first a warm-up, as llama-bench reuses its
          // context: the figure is the forward pass, not first-touch page faults.
          LlamaSession s(*m, backend());
          std::vector<double> rates;
          for (int r = -1; r < reps; ++r) {
            times->ops.clear();  // the profile of the last repetition
            s.drop(0);
            std::vector<BatchToken> b;
            b.reserve(static_cast<size_t>(prefill));
            for (int i = 0; i < prefill; ++i)
              b.push_back({0, i == 0 ? m->tokenizer().bos() : random_token(), all_logits || i == prefill - 1});
            std::vector<float> logits((all_logits ? b.size() : 1) * static_cast<size_t>(V));
            auto t0 = Clock::now();
            s.forward(b, {}, logits.data());
            if (r >= 0) rates.push_back(prefill / std::chrono::duration<double>(Clock::now() - t0).count());
          }
          kv_held = std::max(kv_held, s.kv_bytes());
          weights_held = std::max(weights_held, s.backend().weight_bytes());
          return median(rates);
        };
        double pp = run_prefill(false);
        fmt::print("prefill {} tokens:            {:9.1f} tok/s (last-token logits, as llama-bench pp)\n", prefill, pp);
        if (profile) print_profile(*times);
        j["prefill_tok_s"] = pp;
        for (int batch : batches) {
          LlamaSession s(*m, backend());
          std::vector<double> rates;
          for (int r = -1; r < reps; ++r) {
            std::vector<BatchToken> b;
            std::vector<float> logits(static_cast<size_t>(batch) * static_cast<size_t>(V));
            for (int q = 0; q < batch; ++q) {  // BOS and the context, a sequence at a time
              const auto seq = static_cast<uint32_t>(q);
              s.drop(seq);
              std::vector<BatchToken> p = {{seq, m->tokenizer().bos(), context == 0}};
              for (int i = 0; i < context; ++i) p.push_back({seq, random_token(), i == context - 1});
              s.forward(p, {}, logits.data());
              b.push_back({seq, 0});
            }
            times->ops.clear();
            auto t0 = Clock::now();
            for (int step = 0; step < decode; ++step) {
              for (auto& t : b) t.token = random_token();
              s.forward(b, {}, logits.data());
            }
            if (r >= 0)
              rates.push_back(double(batch) * decode / std::chrono::duration<double>(Clock::now() - t0).count());
          }
          fmt::print("decode batch {:3}, {} steps{}:       {:9.1f} tok/s\n", batch, decode,
                     context > 0 ? fmt::format(" after {} tokens", context) : "", median(rates));
          if (profile) print_profile(*times);
          j["decode_tok_s"][std::to_string(batch)] = median(rates);
          kv_held = std::max(kv_held, s.kv_bytes());
        }
        // Engine memory before the all-logits run, whose output (tokens x vocab floats) is
        // the caller's buffer, not the engine's.
        const LlamaConfig& k = m->config();
        const double kv_mb = double(kv_held) / 1e6;
        const double file_mb = m->file().file_size() / 1e6, rss = peak_rss_mb();
        const double weights_mb = double(weights_held) / 1e6;
        if (selected_device().rfind("cpu", 0) == 0)
          fmt::print(
              "peak RSS {:.1f} MB: weights {:.1f} MB as the backend holds them (tiles, copies; file {:.1f} MB) + KV "
              "cache {:.1f} MB (pages held; f16, {} bytes per token) + {:.1f} MB other (mapped rows and norms, "
              "activations, code; budget: +64 MB)\n",
              rss, weights_mb, file_mb, kv_mb, k.kv_bytes_per_token(), rss - weights_mb - kv_mb);
        else  // the weights and caches live in the device's memory
          fmt::print(
              "device memory: weights {:.1f} MB as uploaded (file {:.1f} MB) + KV cache {:.1f} MB (pages held; f16, "
              "{} bytes per token); host peak RSS {:.1f} MB\n",
              weights_mb, file_mb, kv_mb, k.kv_bytes_per_token(), rss);
        j["weights_mb"] = weights_mb;
        j["peak_rss_mb"] = rss;
        j["kv_bytes_per_token"] = k.kv_bytes_per_token();
        j["file_mb"] = file_mb;
        j["kv_cache_mb"] = kv_mb;
        double pp_all = run_prefill(true);
        fmt::print("prefill {} tokens, all logits: {:9.1f} tok/s (what compression needs)\n", prefill, pp_all);
        j["prefill_all_logits_tok_s"] = pp_all;
        fmt::print("{} threads, kernels {}, device {}\n", threads, cpu_simd_name(), selected_device());
        if (!json_out.empty()) {
          std::string text = j.dump(2) + "\n";
          write_file_atomic(json_out, ByteSpan(reinterpret_cast<const uint8_t*>(text.data()), text.size()), true);
        }
        return static_cast<int>(kOk);
      };
    });
  }
}

}  // namespace lmac::cli
