// lmac info FILE.lmac: what a stream holds, without decoding it.
#include <fmt/format.h>

#include "cli_common.hpp"
#include "lmac/common/file_io.hpp"
#include "lmac/container/lmac_format.hpp"

namespace lmac::cli {

void add_info(CLI::App& app) {
  auto* c = app.add_subcommand("info", "describe .lmac files");
  static std::vector<std::string> inputs;
  c->add_option("inputs", inputs, ".lmac files")->required();
  c->callback([] {
    action() = [] {
      int rc = kOk;
      for (const auto& in : inputs) {
        try {
          Bytes file = read_file(in);
          ParsedStream p = parse_lmac(file);
          const StreamHeader& h = p.stream.header;
          uint64_t tokens = 0, tok_bytes = 0, res_bytes = 0, subword = 0, stored = 0, stored_bytes = 0, audio = 0,
                   mixed = 0;
          for (const auto& ch : p.stream.chunks) {
            if (ch.stored) {
              ++stored, stored_bytes += ch.tokens.size();
              continue;
            }
            tokens += ch.token_count;
            tok_bytes += ch.tokens.size();
            res_bytes += ch.residual.size();
            subword += ch.mode == TokenMode::Subword;
            audio += ch.mode == TokenMode::Audio;
            mixed += ch.mode == TokenMode::Mixed;
          }
          fmt::print("{}:\n  source     {} ({}), {} header{} + {} trailer bytes kept\n", input_name(in),
                     container_name(h.container), h.format.describe(), h.original_header.size(),
                     h.canonical_wav_header ? " (canonical: made from the fields, not stored)" : "",
                     h.original_trailer.size());
          fmt::print("  restores   {}\n", h.container == Container::Decoded
                                              ? "a WAV file with the samples (and tags) of the original, not its "
                                                "own format (it was decoded by libsndfile)"
                                              : "the original file, byte for byte");
          fmt::print("  samples    {} bytes in {} chunks of {} bytes\n", h.data_bytes, h.chunk_count, h.chunk_bytes);
          fmt::print("  serial     {}\n", h.serial.describe());
          fmt::print("  model      {} (fingerprint {:016x})\n", h.model_name, h.model_fingerprint);
          if (audio + mixed > 0)
            fmt::print(
                "  bits       {} chunks by the audio model alone, {} mixed with the language model, {} bytes "
                "coded\n",
                audio, mixed, tok_bytes);
          if (mixed > 0 && h.lm_segment_bytes > 0)
            fmt::print("  segments   the language model starts afresh every {} bytes of a chunk\n", h.lm_segment_bytes);
          if (audio + mixed == 0)
            fmt::print("  tokens     {} ({} chunks subword, {} char), {} bytes coded\n", tokens, subword,
                       h.chunk_count - subword - stored, tok_bytes);
          if (stored > 0)
            fmt::print("  stored     {} chunks kept as they are ({} bytes): the model would not make them smaller\n",
                       stored, stored_bytes);
          if (audio + mixed == 0) fmt::print("  residual   {} bytes\n", res_bytes);
          fmt::print("  size       {} bytes ({:.2f}% of the samples)\n", file.size(),
                     h.data_bytes ? 100.0 * file.size() / h.data_bytes : 0.0);
          fmt::print("  format     .lmac version {}{}, arithmetic revision {}\n", p.version,
                     p.version < kFormatVersion ? fmt::format(" (this lmac writes {})", kFormatVersion) : "",
                     h.arithmetic_revision);
          if (!p.damaged.empty()) {
            fmt::print("  damaged    {} chunks\n", p.damaged.size());
            rc = kError;
          }
        } catch (const std::exception& e) {
          report_error(input_name(in), e.what());
          rc = kError;
        }
      }
      return rc;
    };
  });
}

}  // namespace lmac::cli
