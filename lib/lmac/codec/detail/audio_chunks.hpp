// Chunks coded bit by bit by the audio model, alone or mixed with a language model
// (record modes 3 and 4; docs/FORMAT.md). The chunk codec hands them here.
#pragma once

#include <vector>

#include "lmac/codec/chunk_codec.hpp"
#include "lmac/codec/detail/chunk_codec_common.hpp"

namespace lmac {

// Why this serialization cannot be audio-coded ("" when it can): the audio model reads
// each sample's bits from the top, so it needs the shift mapping, most significant
// byte first.
std::string audio_coding_obstacle(const ChunkSpec& spec);

std::vector<ChunkRecord> encode_audio_chunks(const CodecModel& model, const ChunkSpec& spec, ByteSpan data,
                                             const std::vector<ChunkRange>& ranges, const CodecOptions& options);

// Decodes the records listed in `which` (mode Audio or Mixed) into d; a chunk that
// fails gets its error instead.
void decode_audio_chunks(const CodecModel& model, const ChunkSpec& spec, const std::vector<ChunkRecord>& records,
                         const std::vector<ChunkRange>& ranges, const std::vector<size_t>& which,
                         const CodecOptions& options, ChunkProgress& progress, DecodedChunks& d);

}  // namespace lmac
