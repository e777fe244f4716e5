// Run-time counts and flags as template arguments: kernels that keep N accumulators in
// registers (the model's, the least-squares stage's) need N when they are compiled.
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace lmac {

// Calls f(std::integral_constant<int, N>{}) with N = n clamped to [1, Max].
template <int Max, typename F>
void with_count(size_t n, F&& f) {
  const int c = static_cast<int>(std::clamp<size_t>(n, 1, Max));
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (void)((c == I + 1 ? (f(std::integral_constant<int, I + 1>{}), true) : false) || ...);
  }
  (std::make_integer_sequence<int, Max>{});
}

// Calls f(std::bool_constant<flag>{}): a kernel variant chosen at run time.
template <typename F>
void with_flag(bool flag, F&& f) {
  if (flag)
    f(std::true_type{});
  else
    f(std::false_type{});
}

}  // namespace lmac
