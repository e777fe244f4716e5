// PCM bytes <-> one int32 per sample (sign-extended; unsigned 8-bit centred on 0), for
// the audio coders, bit-depth conversion and audio prediction.
#pragma once

#include <cstdint>
#include <vector>

#include "lmac/audio/pcm_format.hpp"
#include "lmac/common/bytes.hpp"

namespace lmac {

std::vector<int32_t> pcm_to_samples(ByteSpan pcm, const PcmFormat& format);
Bytes samples_to_pcm(const std::vector<int32_t>& samples, const PcmFormat& format);

}  // namespace lmac
