// gzip (zlib), LZMA2 (liblzma, .xz), zstd, bzip2 and brotli on raw bytes.
#include <brotli/decode.h>
#include <brotli/encode.h>
#include <bzlib.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lmac/baselines/compressor.hpp"
#include "lmac/common/error.hpp"

namespace lmac {
namespace {

class Gzip final : public Compressor {
 public:
  std::string name() const override { return "gzip"; }
  std::string settings() const override { return "zlib level 9, gzip wrapper"; }
  Bytes compress(ByteSpan in, const PcmFormat&) const override {
    z_stream s{};
    if (deflateInit2(&s, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) fail("zlib init failed");
    Bytes out(deflateBound(&s, in.size()) + 32);
    s.next_in = const_cast<Bytef*>(in.data());
    s.avail_in = static_cast<uInt>(in.size());
    s.next_out = out.data();
    s.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&s, Z_FINISH);
    out.resize(s.total_out);
    deflateEnd(&s);
    if (rc != Z_STREAM_END) fail("zlib deflate failed");
    return out;
  }
  Bytes decompress(ByteSpan in, const PcmFormat&, size_t n) const override {
    z_stream s{};
    if (inflateInit2(&s, 15 + 16) != Z_OK) fail("zlib init failed");
    Bytes out(n);
    s.next_in = const_cast<Bytef*>(in.data());
    s.avail_in = static_cast<uInt>(in.size());
    s.next_out = out.data();
    s.avail_out = static_cast<uInt>(out.size());
    int rc = inflate(&s, Z_FINISH);
    size_t got = s.total_out;
    inflateEnd(&s);
    if (rc != Z_STREAM_END || got != n) fail_format("gzip stream does not decode to the original size");
    return out;
  }
};

class Lzma2 final : public Compressor {
 public:
  std::string name() const override { return "lzma2"; }
  std::string settings() const override { return "xz preset 9e, CRC64"; }
  Bytes compress(ByteSpan in, const PcmFormat&) const override {
    Bytes out(lzma_stream_buffer_bound(in.size()));
    size_t pos = 0;
    if (lzma_easy_buffer_encode(9 | LZMA_PRESET_EXTREME, LZMA_CHECK_CRC64, nullptr, in.data(), in.size(), out.data(),
                                &pos, out.size()) != LZMA_OK)
      fail("xz encoding failed");
    out.resize(pos);
    return out;
  }
  Bytes decompress(ByteSpan in, const PcmFormat&, size_t n) const override {
    Bytes out(n);
    uint64_t memlimit = UINT64_MAX;
    size_t in_pos = 0, out_pos = 0;
    if (lzma_stream_buffer_decode(&memlimit, 0, nullptr, in.data(), &in_pos, in.size(), out.data(), &out_pos,
                                  out.size()) != LZMA_OK ||
        out_pos != n)
      fail_format("xz stream does not decode to the original size");
    return out;
  }
};

class Zstd final : public Compressor {
 public:
  explicit Zstd(int level) : level_(level) {}
  std::string name() const override { return fmt::format("zstd{}", level_); }
  std::string settings() const override { return fmt::format("level {}, long distance matching", level_); }
  Bytes compress(ByteSpan in, const PcmFormat&) const override {
    ZSTD_CCtx* c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level_);
    ZSTD_CCtx_setParameter(c, ZSTD_c_enableLongDistanceMatching, 1);
    Bytes out(ZSTD_compressBound(in.size()));
    size_t n = ZSTD_compress2(c, out.data(), out.size(), in.data(), in.size());
    ZSTD_freeCCtx(c);
    if (ZSTD_isError(n)) fail(std::string("zstd: ") + ZSTD_getErrorName(n));
    out.resize(n);
    return out;
  }
  Bytes decompress(ByteSpan in, const PcmFormat&, size_t n) const override {
    ZSTD_DCtx* d = ZSTD_createDCtx();
    ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 31);
    Bytes out(n);
    size_t got = ZSTD_decompressDCtx(d, out.data(), out.size(), in.data(), in.size());
    ZSTD_freeDCtx(d);
    if (ZSTD_isError(got) || got != n) fail_format("zstd frame does not decode to the original size");
    return out;
  }

 private:
  int level_;
};

class Bzip2 final : public Compressor {
 public:
  std::string name() const override { return "bzip2"; }
  std::string settings() const override { return "block size 900k"; }
  Bytes compress(ByteSpan in, const PcmFormat&) const override {
    unsigned int len = static_cast<unsigned int>(in.size() + in.size() / 100 + 600);
    Bytes out(len);
    char empty = 0;  // libbz2 refuses a null source even for zero bytes
    char* src = in.empty() ? &empty : const_cast<char*>(reinterpret_cast<const char*>(in.data()));
    if (BZ2_bzBuffToBuffCompress(reinterpret_cast<char*>(out.data()), &len, src, static_cast<unsigned int>(in.size()),
                                 9, 0, 0) != BZ_OK)
      fail("bzip2 compression failed");
    out.resize(len);
    return out;
  }
  Bytes decompress(ByteSpan in, const PcmFormat&, size_t n) const override {
    Bytes out(n);
    unsigned int len = static_cast<unsigned int>(n);
    if (BZ2_bzBuffToBuffDecompress(reinterpret_cast<char*>(out.data()), &len,
                                   const_cast<char*>(reinterpret_cast<const char*>(in.data())),
                                   static_cast<unsigned int>(in.size()), 0, 0) != BZ_OK ||
        len != n)
      fail_format("bzip2 stream does not decode to the original size");
    return out;
  }
};

class Brotli final : public Compressor {
 public:
  std::string name() const override { return "brotli"; }
  std::string settings() const override { return "quality 11, window 22"; }
  Bytes compress(ByteSpan in, const PcmFormat&) const override {
    size_t len = BrotliEncoderMaxCompressedSize(in.size());
    if (len == 0) len = in.size() + 1024;
    Bytes out(len);
    if (!BrotliEncoderCompress(11, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, in.size(), in.data(), &len, out.data()))
      fail("brotli compression failed");
    out.resize(len);
    return out;
  }
  Bytes decompress(ByteSpan in, const PcmFormat&, size_t n) const override {
    Bytes out(n);
    size_t len = n;
    if (BrotliDecoderDecompress(in.size(), in.data(), &len, out.data()) != BROTLI_DECODER_RESULT_SUCCESS || len != n)
      fail_format("brotli stream does not decode to the original size");
    return out;
  }
};

}  // namespace

std::unique_ptr<Compressor> make_flac_compressor();
std::unique_ptr<Compressor> make_wavpack_compressor();

const std::vector<std::string>& baseline_names() {
  static const std::vector<std::string> names = {"gzip",  "lzma2",  "zstd19", "zstd22",
                                                 "bzip2", "brotli", "flac",   "wavpack"};
  return names;
}

std::unique_ptr<Compressor> make_compressor(const std::string& name) {
  if (name == "gzip") return std::make_unique<Gzip>();
  if (name == "lzma2" || name == "xz") return std::make_unique<Lzma2>();
  if (name == "zstd19") return std::make_unique<Zstd>(19);
  if (name == "zstd22" || name == "zstd") return std::make_unique<Zstd>(22);
  if (name == "bzip2") return std::make_unique<Bzip2>();
  if (name == "brotli") return std::make_unique<Brotli>();
  if (name == "flac") return make_flac_compressor();
  if (name == "wavpack") return make_wavpack_compressor();
  // The model rows are eval's (lmac/eval), named here so the list is whole.
  fail(fmt::format("unknown compressor '{}' (lm, audio, mix, {})", name, fmt::join(baseline_names(), ", ")));
}

}  // namespace lmac
