#include "lmac/lm/rope_table.hpp"

#include <vector>

#include "lmac/common/det_math.hpp"

namespace lmac {

void rope_table_rows(const RopeSpec& spec, size_t first, size_t count, float* out) {
  const size_t pairs = spec.rot_dim / 2;
  const double log2_base = det_log2(static_cast<double>(spec.base));
  std::vector<double> theta(pairs);
  for (size_t i = 0; i < pairs; ++i) {
    const double exponent = static_cast<double>(2 * i) / static_cast<double>(spec.rot_dim);
    theta[i] = det_exp2(-(exponent * log2_base));
    if (spec.factors != nullptr) theta[i] = theta[i] / static_cast<double>(spec.factors[i]);
  }
  for (size_t p = 0; p < count; ++p)
    for (size_t i = 0; i < pairs; ++i) {
      double s = 0.0, c = 0.0;
      det_sincos(static_cast<double>(first + p) * theta[i], &s, &c);
      out[p * spec.rot_dim + 2 * i] = static_cast<float>(c);
      out[p * spec.rot_dim + 2 * i + 1] = static_cast<float>(s);
    }
}

}  // namespace lmac
