// Whole files: an audio file <-> an .lmac stream, built from the chunk codec.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lmac/codec/chunk_codec.hpp"
#include "lmac/container/lmac_format.hpp"

namespace lmac {

constexpr uint32_t kDefaultChunkBytes = 2048;

struct CompressOptions {
  SerialOptions serial;
  uint32_t chunk_bytes = 0;             // 0: default_chunk_bytes()
  std::optional<PcmFormat> raw_format;  // headerless PCM input
  CodecOptions codec;
  // A mix: the model (the audio model) that a stream with no mixed chunk names instead,
  // its records being exactly that model's, so that decoding it needs no language model
  // (and its header is shorter). Null: the stream names the mix whatever it holds.
  const CodecModel* alone = nullptr;
};

// `header`, when given, receives the stream's header (as written, its original header
// bytes included).
Bytes compress_audio(const CodecModel& model, ByteSpan file, const CompressOptions& options,
                     StreamHeader* header = nullptr);

// The chunk size used when none is given: the model's preferred frames per chunk, or
// else kDefaultChunkBytes made to fit the model's context, rounded down to whole frames.
// A mix takes about the audio model's chunk, in whole segments of what the language
// model's context holds (lm_segment_bytes).
uint32_t default_chunk_bytes(const CodecModel& model, const PcmFormat& format);

// For a mix whose chunks are longer than its language model's context holds: the bytes
// after which the language model starts afresh within a chunk (what the context holds,
// in whole frames); else 0.
uint32_t lm_segment_bytes(const CodecModel& model, const PcmFormat& format, uint32_t chunk_bytes);

// The model a stream of these records names: `alone` (the audio model) in place of a mix
// where no chunk is mixed (CompressOptions::alone), else `model`.
const CodecModel& stream_model(const CodecModel& model, const CodecModel* alone, std::span<const ChunkRecord> chunks);

// The bytes of the .lmac stream of `data_bytes` of raw samples coded by `model` as one
// chunk besides that chunk's record (header, hashes, footer): what `lmac compress --raw
// --chunk-size` of the data's size writes around the record. `lmac eval`'s whole-file
// runs count them, as FLAC's and WavPack's whole files count their headers.
uint64_t one_chunk_stream_overhead(const CodecModel& model, const PcmFormat& format, const SerialOptions& serial,
                                   uint64_t data_bytes);

struct DecompressResult {
  Bytes file;                       // the restored file (damaged chunks silent when keep_going)
  std::vector<size_t> bad_chunks;   // chunk numbers (0-based) that failed
  std::vector<std::string> errors;  // one line per bad chunk
  std::string end_damage;           // keep_going: what was wrong after the records
};

// Throws on any error unless keep_going, in which case damaged chunks become digital
// silence of the format (0 for signed and float samples, mid-scale 0x80.. for unsigned)
// and listed. Throws before any decoding when `model` is not the one the stream names.
DecompressResult decompress_audio(const CodecModel& model, const ParsedStream& parsed, const CodecOptions& options,
                                  bool keep_going);

// Refuses a model whose fingerprint differs from the one recorded in the stream.
void check_model(const CodecModel& model, const StreamHeader& header);

}  // namespace lmac
