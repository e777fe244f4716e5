// Evaluation reports: the table on stdout, JSON (schema in docs/EVAL.md), CSV, and an
// SVG chart of rate by compressor (grouped by bit depth when runs are merged).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "lmac/eval/evaluate.hpp"

namespace lmac {

// A run's full record: what was measured and how.
nlohmann::json report_json(const Dataset& data, const std::vector<CompressorResult>& results,
                           const nlohmann::json& options, const std::string& model_name, uint64_t model_fingerprint);

std::string format_table(const nlohmann::json& report);
std::string format_csv(const std::vector<nlohmann::json>& reports);
std::string format_svg(const std::vector<nlohmann::json>& reports);

// Checks that a JSON document is an lmac evaluation report (for --merge).
void check_report(const nlohmann::json& report, const std::string& source);

}  // namespace lmac
