// The revision of lmac's arithmetic (docs/ARITHMETIC.md): every operation between the
// audio bytes and the coder's frequencies. A stream decodes only with the revision that
// made it, so any change that alters a bit of any stream (the golden streams in
// tests/golden/ catch it) bumps this number.
#pragma once

#include <cstdint>

namespace lmac {

// 11: the audio model's long NLMS stage may reach back 1024 values (a 1-bit flag per
//     channel with a cascade); a second opinion (the prediction before the sign-sign
//     stage and the bias, with its own spread) walked and mixed into the audio chain.
// 10: the audio model's NLMS stages weighted by how they pay (a 1-bit flag per channel
//     with a cascade).
// 9: the audio model's NLMS cascade: short stages after the long one (a 2-bit code per
//    channel); every NLMS step bounded by the error's square.
// 8: K-quant products (Q2_K .. Q6_K) in exact integers per sub-block on 16-bit activations.
// 7: the audio model's split-position mixer and refiner, context bias (a 1-bit flag per
//    channel), forget factor 0.999 (least-squares code 3), refiners that count updates.
// 6: the audio model's long NLMS stage (a 1-bit flag in each channel's parameters).
// 5: the audio model's least-squares stage (a 2-bit code in each channel's parameters).
// 4: RoPE angles from lmac's own double math, IEEE-half KV cache, det_exp NaN -> -87.
// (3: Q8_0 products in integers; 2: attention scores as one chain; 1: the first.)
constexpr uint16_t kArithmeticRevision = 11;

}  // namespace lmac
