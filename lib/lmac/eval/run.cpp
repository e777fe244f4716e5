#include "lmac/eval/run.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <numeric>

#include "lmac/common/error.hpp"

namespace lmac {
namespace {

using nlohmann::json;

// One rank's share of one compressor's work, and what came of it.
struct Share {
  std::vector<size_t> chunks, wholes;
  std::vector<ChunkFigures> figures;
  std::vector<uint64_t> whole_sizes;
  Measured timing;
};

// The work left for compressor `name`: chunks and whole inputs not in the checkpoint.
void remaining(const Dataset& d, const std::string& name, const EvalOptions& o, const Checkpoint::Finished& done,
               std::vector<size_t>& chunks, std::vector<size_t>& wholes) {
  for (size_t i = 0; i < d.chunks.size(); ++i)
    if (!done.chunks.count({name, i})) chunks.push_back(i);
  if (o.whole_files && has_whole_run(name))
    for (size_t w = 0; w < whole_count(d); ++w)
      if (!done.wholes.count({name, w})) wholes.push_back(w);
}

// Fault injection for the failure tests (docs/EVAL.md): LMAC_FAULT_RANK=R makes rank R
// fail once it has finished LMAC_FAULT_AFTER units (default 0), as a bad file would.
void injected_fault(const World& world, uint64_t units) {
  static const char* rank = std::getenv("LMAC_FAULT_RANK");
  static const char* after = std::getenv("LMAC_FAULT_AFTER");
  if (rank == nullptr || std::atoi(rank) != world.rank()) return;
  if (units >= static_cast<uint64_t>(after ? std::atoll(after) : 0)) fail("injected fault (LMAC_FAULT_RANK)");
}

// Measures a share batch by batch, recording each batch as it finishes.
void work(const Dataset& d, const std::vector<WholeInput>& inputs, const std::string& name, const EvalOptions& o,
          World& world, Checkpoint* cp, Share& share, uint64_t& units) {
  const size_t batch = work_unit(name, o);
  EvalOptions quiet = o;
  quiet.progress = {};
  for (size_t at = 0; at < share.chunks.size() && !world.stop_requested(); at += batch) {
    const std::span<const size_t> idx =
        std::span<const size_t>(share.chunks).subspan(at, std::min(batch, share.chunks.size() - at));
    const uint64_t before = units;
    quiet.progress = [&](const std::string&, size_t done, size_t) { world.progress(before + done); };
    Measured m = measure_chunks(d, name, idx, quiet);
    if (cp) cp->add_chunks(name, idx, m.chunks);
    share.figures.insert(share.figures.end(), m.chunks.begin(), m.chunks.end());
    share.timing.compress_seconds += m.compress_seconds;
    share.timing.decompress_seconds += m.decompress_seconds;
    units = before + idx.size();
    world.progress(units);
    injected_fault(world, units);
  }
  // Whole files go through a model row several at a time, so that they run side by side
  // (audio) or share the language model's batch (mix).
  const size_t wholes_at_once = is_model_row(name) ? std::max(batch, static_cast<size_t>(std::max(1, o.threads))) : 1;
  for (size_t at = 0; at < share.wholes.size() && !world.stop_requested(); at += wholes_at_once) {
    const std::span<const size_t> ws =
        std::span<const size_t>(share.wholes).subspan(at, std::min(wholes_at_once, share.wholes.size() - at));
    const std::vector<uint64_t> sizes = measure_whole(d, name, ws, o);
    if (cp) cp->add_wholes(name, ws, sizes);
    share.whole_sizes.insert(share.whole_sizes.end(), sizes.begin(), sizes.end());
    for (size_t w : ws) units += inputs[w].chunks;
    world.progress(units);
  }
}

json to_json(const std::vector<Share>& shares, const std::string& error) {
  json j = {{"error", error}, {"shares", json::array()}};
  for (const Share& s : shares) {
    json f = json::array();
    for (const ChunkFigures& c : s.figures) f.push_back({c.compressed, c.coded_tokens, c.residual, c.tokens});
    j["shares"].push_back({{"chunks", s.chunks},
                           {"figures", f},
                           {"wholes", s.wholes},
                           {"whole_sizes", s.whole_sizes},
                           {"compress_seconds", s.timing.compress_seconds},
                           {"decompress_seconds", s.timing.decompress_seconds}});
  }
  return j;
}

// Every rank computes the same split from the same inputs: this rank's share of each
// compressor's remaining work. Progress counts chunks, a whole file as many as cover it
// (total_units: all ranks' together).
std::vector<Share> plan_shares(const Dataset& d, const std::vector<WholeInput>& inputs,
                               const std::vector<std::string>& names, const EvalOptions& o,
                               const Checkpoint::Finished& done, const World& world, uint64_t& total_units) {
  std::vector<Share> shares(names.size());
  const auto rank = static_cast<size_t>(world.rank());
  for (size_t c = 0; c < names.size(); ++c) {
    std::vector<size_t> chunks, wholes;
    remaining(d, names[c], o, done, chunks, wholes);
    std::vector<uint64_t> chunk_costs;
    chunk_costs.reserve(chunks.size());
    for (size_t i : chunks) chunk_costs.push_back(d.chunks[i].size);
    shares[c].chunks = split_by_cost(chunks, chunk_costs, world.size())[rank];
    std::vector<uint64_t> whole_costs;
    whole_costs.reserve(wholes.size());
    for (size_t w : wholes) whole_costs.push_back(inputs[w].bytes);
    shares[c].wholes = split_by_cost(wholes, whole_costs, world.size())[rank];
    total_units += chunks.size();
    for (size_t w : wholes) total_units += inputs[w].chunks;
  }
  return shares;
}

// Rank 0's view of every chunk's figures and every whole file's size, per compressor
// run (in the order of `names`), from the checkpoint and from every rank's share.
struct Gathered {
  Gathered(size_t compressors, size_t chunks, size_t whole_files)
      : figures(compressors, std::vector<ChunkFigures>(chunks)),
        wholes(compressors, std::vector<uint64_t>(whole_files)),
        timing(compressors) {}

  void take_checkpoint(const std::vector<std::string>& names, const Checkpoint::Finished& done) {
    const auto index = [&](const std::string& name) {
      return static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin());
    };
    for (const auto& [key, f] : done.chunks)
      if (const size_t c = index(key.first); c < names.size() && key.second < figures[c].size())
        figures[c][key.second] = f;
    for (const auto& [key, bytes] : done.wholes)
      if (const size_t c = index(key.first); c < names.size() && key.second < wholes[c].size())
        wholes[c][key.second] = bytes;
  }

  // One rank's shares, as to_json wrote them.
  void take_rank(const json& j) {
    for (size_t c = 0; c < figures.size(); ++c) {
      const json& s = j["shares"][c];
      const auto chunks = s["chunks"].get<std::vector<size_t>>();
      for (size_t k = 0; k < s["figures"].size(); ++k) {
        const json& f = s["figures"][k];
        figures[c][chunks[k]] = {f[0].get<uint64_t>(), f[1].get<uint64_t>(), f[2].get<uint64_t>(),
                                 f[3].get<uint64_t>()};
      }
      const auto ws = s["wholes"].get<std::vector<size_t>>();
      for (size_t k = 0; k < s["whole_sizes"].size(); ++k) wholes[c][ws[k]] = s["whole_sizes"][k].get<uint64_t>();
      timing[c].compress_seconds += s["compress_seconds"].get<double>();
      timing[c].decompress_seconds += s["decompress_seconds"].get<double>();
    }
  }

  std::vector<std::vector<ChunkFigures>> figures;
  std::vector<std::vector<uint64_t>> wholes;
  std::vector<Measured> timing;
};

}  // namespace

std::vector<std::vector<size_t>> split_by_cost(const std::vector<size_t>& items, const std::vector<uint64_t>& costs,
                                               int parts) {
  std::vector<size_t> order(items.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return costs[a] > costs[b]; });
  std::vector<std::vector<size_t>> out(static_cast<size_t>(std::max(1, parts)));
  std::vector<uint64_t> load(out.size(), 0);
  for (size_t k : order) {
    const size_t p = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    out[p].push_back(items[k]);
    load[p] += costs[k];
  }
  for (auto& part : out) std::sort(part.begin(), part.end());
  return out;
}

RunOutcome run_evaluation(const Dataset& d, const EvalOptions& o, World& world, Checkpoint* cp) {
  const Checkpoint::Finished done = cp ? cp->load() : Checkpoint::Finished{};
  std::vector<std::string> names;
  for (const auto& n : o.compressors)
    if (skip_reason(d, n).empty()) names.push_back(n);
  const std::vector<WholeInput> inputs = whole_input_sizes(d);
  uint64_t total_units = 0;
  std::vector<Share> shares = plan_shares(d, inputs, names, o, done, world, total_units);
  if (world.rank() == 0 && o.progress)
    world.set_progress([&o, total_units](uint64_t u) { o.progress("eval", u, total_units); });
  RunOutcome out;
  std::string error;
  uint64_t units = 0;
  try {
    for (size_t c = 0; c < names.size(); ++c) work(d, inputs, names[c], o, world, cp, shares[c], units);
  } catch (const std::exception& e) {
    error = e.what();
    out.failed_here = true;
    world.signal_failure();
  }
  const auto own_work_done = std::chrono::steady_clock::now();
  const std::string mine = to_json(shares, error).dump();
  const std::vector<Bytes> all = world.gather(ByteSpan(reinterpret_cast<const uint8_t*>(mine.data()), mine.size()));
  if (world.rank() != 0) return out;
  Gathered g(names.size(), d.chunks.size(), whole_count(d));
  g.take_checkpoint(names, done);
  for (size_t r = 0; r < all.size(); ++r) {
    const json j = json::parse(all[r].begin(), all[r].end());
    if (out.failure.empty() && !j["error"].get<std::string>().empty())
      out.failure = fmt::format("rank {}: {}", r, j["error"].get<std::string>());
    g.take_rank(j);
  }
  out.gather_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - own_work_done).count();
  if (!out.failure.empty()) return out;
  size_t c = 0;
  for (const auto& n : o.compressors) {
    if (!skip_reason(d, n).empty()) {
      out.results.push_back(summarize(d, n, o, {}, std::nullopt, {}));
      continue;
    }
    std::optional<std::vector<uint64_t>> w;
    if (o.whole_files && has_whole_run(n)) w = g.wholes[c];
    out.results.push_back(summarize(d, n, o, g.figures[c], w, g.timing[c]));
    ++c;
  }
  return out;
}

}  // namespace lmac
