#include "lmac/eval/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "lmac/common/error.hpp"

namespace lmac {

using nlohmann::json;

json report_json(const Dataset& d, const std::vector<CompressorResult>& results, const json& options,
                 const std::string& model_name, uint64_t fingerprint) {
  json j;
  j["schema"] = "lmac-eval-v1";
  j["lmac_version"] = LMAC_VERSION;
  j["options"] = options;
  j["model"] = {{"name", model_name}, {"fingerprint", fmt::format("{:016x}", fingerprint)}};
  j["dataset"] = {{"files", d.files.size()},
                  {"chunks", d.chunks.size()},
                  {"file_list_xxh3", fmt::format("{:016x}", d.file_list_hash)},
                  {"skipped", json::array()}};
  for (const auto& [path, why] : d.skipped) j["dataset"]["skipped"].push_back({{"path", path}, {"reason", why}});
  for (const auto& r : results) {
    json c = {{"name", r.name},
              {"settings", r.settings},
              {"raw_bytes", r.raw_bytes},
              {"samples", r.samples},
              {"chunks", r.chunks}};
    if (!r.skipped.empty()) {
      c["skipped"] = r.skipped;
      j["compressors"].push_back(c);
      continue;
    }
    c["compressed_bytes"] = r.compressed_bytes;
    c["real_rate"] = r.real_rate();
    c["paper_rate"] = r.paper_rate();
    c["model_adjusted_rate"] = r.model_adjusted_rate();
    c["bits_per_sample"] = r.bits_per_sample();
    c["header_bytes"] = r.header_bytes;
    c["residual_bytes"] = r.residual_bytes;
    c["model_bytes"] = r.model_bytes;
    c["tokens"] = r.tokens;
    c["whole_bytes"] = r.whole_bytes ? json(*r.whole_bytes) : json(nullptr);
    c["whole_rate"] = r.whole_bytes ? json(r.whole_rate()) : json(nullptr);
    c["compress_seconds"] = r.compress_seconds;
    c["decompress_seconds"] = r.verified ? json(r.decompress_seconds) : json(nullptr);
    c["compress_kb_per_s"] = r.compress_seconds > 0 ? r.raw_bytes / 1000.0 / r.compress_seconds : 0.0;
    c["verified"] = r.verified;
    for (const auto& [path, f] : r.per_file)
      c["files"].push_back({{"path", path}, {"raw_bytes", f.raw}, {"compressed_bytes", f.compressed}});
    j["compressors"].push_back(c);
  }
  return j;
}

void check_report(const json& r, const std::string& source) {
  if (!r.is_object() || r.value("schema", "") != "lmac-eval-v1" || !r.contains("compressors"))
    fail(source + ": not an lmac evaluation report (schema lmac-eval-v1)");
}

std::string format_table(const json& r) {
  std::string out =
      fmt::format("{} files, {} chunks, {}-bit, chunk size {} bytes{}\n", r["dataset"]["files"].get<size_t>(),
                  r["dataset"]["chunks"].get<size_t>(), r["options"].value("bit_depth", 0),
                  r["options"].value("chunk_size", 0), r["options"].value("paper", false) ? ", paper preset" : "");
  out += fmt::format("{:<9} {:>10} {:>12} {:>9} {:>9} {:>9} {:>8} {:>10} {:>10}  {}\n", "compressor", "raw bytes",
                     "compressed", "real", "paper", "whole", "bits/smp", "comp KB/s", "verified", "settings");
  for (const auto& c : r["compressors"]) {
    if (c.contains("skipped")) {
      out += fmt::format("{:<9} skipped: {}\n", c["name"].get<std::string>(), c["skipped"].get<std::string>());
      continue;
    }
    auto pct = [](const json& v) {
      return v.is_null() ? std::string("-") : fmt::format("{:.2f}%", 100 * v.get<double>());
    };
    out += fmt::format("{:<9} {:>10} {:>12} {:>9} {:>9} {:>9} {:>8.3f} {:>10.1f} {:>10}  {}\n",
                       c["name"].get<std::string>(), c["raw_bytes"].get<uint64_t>(),
                       c["compressed_bytes"].get<uint64_t>(), pct(c["real_rate"]), pct(c["paper_rate"]),
                       pct(c["whole_rate"]), c["bits_per_sample"].get<double>(), c["compress_kb_per_s"].get<double>(),
                       c["verified"].get<bool>() ? "yes" : "no", c["settings"].get<std::string>());
  }
  if (!r["dataset"]["skipped"].empty()) {
    out += fmt::format("{} files skipped:\n", r["dataset"]["skipped"].size());
    for (const auto& s : r["dataset"]["skipped"])
      out += fmt::format("  {}: {}\n", s["path"].get<std::string>(), s["reason"].get<std::string>());
  }
  return out;
}

namespace {

// The model an evaluation ran (empty when it ran no LM).
std::string model_of(const json& r) { return r.contains("model") ? r["model"].value("name", "") : ""; }

std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\n") == std::string::npos) return v;
  std::string q = "\"";
  for (char ch : v) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

std::string xml_text(const std::string& v) {
  std::string out;
  for (char ch : v) out += ch == '<' ? "&lt;" : ch == '>' ? "&gt;" : ch == '&' ? "&amp;" : std::string(1, ch);
  return out;
}

// A compressor's hue, the same in every chart: fixed for the known ones.
int hue_of(const std::string& name) {
  static const std::vector<std::pair<std::string, int>> hues = {
      {"lm", 0},     {"mix", 330},    {"audio", 300},  {"flac", 210},  {"wavpack", 240}, {"gzip", 30},
      {"lzma2", 60}, {"zstd19", 100}, {"zstd22", 130}, {"bzip2", 160}, {"brotli", 185}};
  for (const auto& [n, h] : hues)
    if (n == name) return h;
  return static_cast<int>(std::hash<std::string>{}(name) % 360);
}

// A round step for the rate axis: 1, 2, 2.5 or 5 times a power of ten, about 5 ticks.
double tick_step(double top) {
  for (double scale = 0.01;; scale *= 10)
    for (double m : {1.0, 2.0, 2.5, 5.0})
      if (top / (m * scale) <= 6) return m * scale;
}

const json* find_compressor(const json& r, const std::string& name) {
  for (const auto& c : r["compressors"])
    if (c["name"].get<std::string>() == name && !c.contains("skipped")) return &c;
  return nullptr;
}

}  // namespace

std::string format_csv(const std::vector<json>& reports) {
  std::string out =
      "bit_depth,model,compressor,raw_bytes,compressed_bytes,real_rate,paper_rate,model_adjusted_rate,whole_rate,"
      "bits_per_sample,compress_seconds,decompress_seconds,verified\n";
  for (const auto& r : reports)
    for (const auto& c : r["compressors"]) {
      if (c.contains("skipped")) continue;
      auto num = [](const json& v) { return v.is_null() ? std::string() : fmt::format("{:.6f}", v.get<double>()); };
      out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{}\n", r["options"].value("bit_depth", 0),
                         csv_field(model_of(r)), c["name"].get<std::string>(), c["raw_bytes"].get<uint64_t>(),
                         c["compressed_bytes"].get<uint64_t>(), num(c["real_rate"]), num(c["paper_rate"]),
                         num(c["model_adjusted_rate"]), num(c["whole_rate"]), num(c["bits_per_sample"]),
                         num(c["compress_seconds"]), num(c["decompress_seconds"]),
                         c["verified"].get<bool>() ? "true" : "false");
    }
  return out;
}

namespace {

// The compressors that ran in any report (the chart's columns) and the models named, in
// order of first appearance.
void chart_columns(const std::vector<json>& reports, std::vector<std::string>& names,
                   std::vector<std::string>& models) {
  for (const auto& r : reports) {
    for (const auto& c : r["compressors"]) {
      // Compare as std::string: GCC 13 finds no string == json in C++20 (seen on Ubuntu 24.04).
      const std::string name = c["name"].get<std::string>();
      if (!c.contains("skipped") && std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    const std::string m = model_of(r);
    if (!m.empty() && std::find(models.begin(), models.end(), m) == models.end()) models.push_back(m);
  }
}

// One compressor's two bars (real rate dark, paper rate light) at x and its label; y_of
// maps a rate to the chart's y, `base` is the y of 0.
template <class YOf>
std::string svg_bars(const json& c, const std::string& name, int x, int bar, int base, const YOf& y_of) {
  const int hue = hue_of(name);
  const auto rect = [&](int at, const char* rate, int lightness) {
    const double v = c[std::string(rate) + "_rate"];
    return fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"hsl({},55%,{}%)\"><title>{} {} "
        "{:.2f}%</title></rect>\n",
        at, y_of(v), bar, base - y_of(v), hue, lightness, xml_text(name), rate, 100 * v);
  };
  return rect(x, "real", 40) + rect(x + bar, "paper", 75) +
         fmt::format("<text transform=\"translate({},{}) rotate(60)\">{}</text>\n", x + 4, base + 8, xml_text(name));
}

}  // namespace

std::string format_svg(const std::vector<json>& reports) {
  // Bars of real rate (and paper rate, lighter) per compressor, one group per bit depth.
  std::vector<std::string> names, models;
  chart_columns(reports, names, models);
  const int bar = 14, gap = 6, group_gap = 30, left = 60, top = 56, height = 300;
  double max_rate = 1.0;
  for (const auto& r : reports)
    for (const auto& c : r["compressors"])
      if (!c.contains("skipped"))
        max_rate = std::max({max_rate, c["real_rate"].get<double>(), c["paper_rate"].get<double>()});
  const double step = tick_step(max_rate), axis = std::ceil(max_rate / step - 1e-9) * step;
  auto y_of = [&](double v) { return top + height - static_cast<int>(std::lround(height * v / axis)); };
  const int group_w = static_cast<int>(names.size()) * (2 * bar + gap);
  const int width = std::max(480, left + static_cast<int>(reports.size()) * (group_w + group_gap) + 20);
  std::string model_line = "model: none (no lm row)";
  if (!models.empty()) {
    model_line = "model: ";
    for (size_t i = 0; i < models.size(); ++i) model_line += (i ? ", " : "") + xml_text(models[i]);
  }
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
      "font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"18\" font-size=\"13\">Compressed / raw (lower is better)</text>\n"
      "<text x=\"{}\" y=\"32\">dark: real rate, light: paper accounting</text>\n"
      "<text x=\"{}\" y=\"46\">{}</text>\n",
      width, top + height + 90, left, left, left, model_line);
  for (int t = 0; t * step <= axis + 1e-9; ++t) {
    const int y = y_of(t * step);
    s += fmt::format(
        "<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#ddd\"/><text x=\"5\" y=\"{}\">{:g}%</text>\n", left,
        width - 10, y, y, y + 4, std::round(100 * t * step * 10) / 10);
  }
  s += fmt::format(
      "<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#c00\" stroke-dasharray=\"4 3\"/>"
      "<text x=\"{}\" y=\"{}\" fill=\"#c00\">raw size</text>\n",
      left, width - 10, y_of(1.0), y_of(1.0), width - 60, y_of(1.0) - 3);
  int x = left;
  for (const auto& r : reports) {
    for (const std::string& name : names) {
      if (const json* c = find_compressor(r, name))  // an empty slot gets neither bars nor label
        s += svg_bars(*c, name, x, bar, top + height, y_of);
      x += 2 * bar + gap;
    }
    s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\">{}-bit</text>\n", x - group_w / 2 - 15,
                     top + height + 80, r["options"].value("bit_depth", 0));
    x += group_gap;
  }
  return s + "</svg>\n";
}

}  // namespace lmac
