// Any other format (FLAC, OGG, ...) decoded by libsndfile from memory. The samples are
// stored as little-endian PCM at the file's own bit depth (lossy formats as 16-bit).
#include <sndfile.h>

#include <algorithm>
#include <cstring>

#include "lmac/audio/audio_file.hpp"

namespace lmac {
namespace {

struct MemoryFile {
  ByteSpan data;
  sf_count_t pos = 0;
};

sf_count_t vio_len(void* u) { return static_cast<sf_count_t>(static_cast<MemoryFile*>(u)->data.size()); }
sf_count_t vio_seek(sf_count_t off, int whence, void* u) {
  auto* m = static_cast<MemoryFile*>(u);
  sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : vio_len(u);
  m->pos = std::clamp<sf_count_t>(base + off, 0, vio_len(u));
  return m->pos;
}
sf_count_t vio_read(void* ptr, sf_count_t count, void* u) {
  auto* m = static_cast<MemoryFile*>(u);
  sf_count_t n = std::min(count, vio_len(u) - m->pos);
  if (n > 0) std::memcpy(ptr, m->data.data() + m->pos, static_cast<size_t>(n));
  m->pos += std::max<sf_count_t>(n, 0);
  return std::max<sf_count_t>(n, 0);
}
sf_count_t vio_write(const void*, sf_count_t, void*) { return 0; }
sf_count_t vio_tell(void* u) { return static_cast<MemoryFile*>(u)->pos; }

PcmFormat format_of(const SF_INFO& info) {
  PcmFormat f;
  f.channels = static_cast<uint16_t>(info.channels);
  f.rate = static_cast<uint32_t>(info.samplerate);
  f.kind = SampleKind::Signed;
  switch (info.format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_S8:
    case SF_FORMAT_PCM_U8:
      f.bits = 8;
      f.kind = SampleKind::Unsigned;
      break;
    case SF_FORMAT_PCM_24:
      f.bits = 24;
      break;
    case SF_FORMAT_PCM_32:
      f.bits = 32;
      break;
    case SF_FORMAT_FLOAT:
      f.bits = 32;
      f.kind = SampleKind::Float;
      break;
    default:
      f.bits = 16;
      break;  // 16-bit and every lossy or companded format
  }
  return f;
}

// The file's text tags as a WAV LIST/INFO chunk (empty when it has none): what WAV can
// carry of the original's metadata.
Bytes info_chunk(SNDFILE* sf) {
  static const std::pair<int, const char*> kTags[] = {
      {SF_STR_TITLE, "INAM"},     {SF_STR_ARTIST, "IART"},   {SF_STR_ALBUM, "IPRD"},
      {SF_STR_COMMENT, "ICMT"},   {SF_STR_DATE, "ICRD"},     {SF_STR_GENRE, "IGNR"},
      {SF_STR_COPYRIGHT, "ICOP"}, {SF_STR_SOFTWARE, "ISFT"}, {SF_STR_TRACKNUMBER, "ITRK"}};
  Bytes body;
  ByteWriter w(body);
  for (const auto& [id, tag] : kTags) {
    const char* v = sf_get_string(sf, id);
    if (v == nullptr || *v == '\0') continue;
    const size_t n = std::strlen(v) + 1;  // with its NUL
    w.bytes(ByteSpan(reinterpret_cast<const uint8_t*>(tag), 4));
    w.u32(static_cast<uint32_t>(n));
    w.bytes(ByteSpan(reinterpret_cast<const uint8_t*>(v), n));
    if (n % 2) w.u8(0);
  }
  if (body.empty()) return body;
  Bytes chunk;
  ByteWriter c(chunk);
  c.bytes(ByteSpan(reinterpret_cast<const uint8_t*>("LIST"), 4));
  c.u32(static_cast<uint32_t>(4 + body.size()));
  c.bytes(ByteSpan(reinterpret_cast<const uint8_t*>("INFO"), 4));
  c.bytes(body);
  return chunk;
}

}  // namespace

AudioFile decode_with_sndfile(ByteSpan file) {
  MemoryFile mem{file, 0};
  SF_VIRTUAL_IO vio{vio_len, vio_seek, vio_read, vio_write, vio_tell};
  SF_INFO info{};
  SNDFILE* sf = sf_open_virtual(&vio, SFM_READ, &info, &mem);
  if (sf == nullptr) fail_format(std::string("not a readable audio file (") + sf_strerror(nullptr) + ")");
  if (info.channels <= 0 || info.channels > 255) {
    sf_close(sf);
    fail_format("unsupported channel count");
  }
  if ((info.format & SF_FORMAT_SUBMASK) == SF_FORMAT_DOUBLE) {
    sf_close(sf);  // converting would lose bits: refuse rather than store something else
    fail_format("64-bit float samples are not supported (lmac codes 8, 16, 24 and 32-bit samples)");
  }
  AudioFile a;
  a.container = Container::Decoded;
  a.format = format_of(info);
  a.trailer = info_chunk(sf);
  const int bps = a.format.bytes_per_sample();
  std::vector<int32_t> buf(4096 * static_cast<size_t>(info.channels));
  std::vector<float> fbuf(a.format.kind == SampleKind::Float ? buf.size() : 0);
  for (;;) {
    sf_count_t got =
        a.format.kind == SampleKind::Float ? sf_readf_float(sf, fbuf.data(), 4096) : sf_readf_int(sf, buf.data(), 4096);
    if (got <= 0) break;
    size_t n = static_cast<size_t>(got) * static_cast<size_t>(info.channels);
    size_t at = a.data.size();
    a.data.resize(at + n * static_cast<size_t>(bps));
    for (size_t i = 0; i < n; ++i) {
      uint32_t v;
      if (a.format.kind == SampleKind::Float)
        std::memcpy(&v, &fbuf[i], 4);
      else
        v = static_cast<uint32_t>(buf[i]) >> (32 - a.format.bits);  // sndfile scales to 32 bits
      if (a.format.kind == SampleKind::Unsigned) v ^= 0x80;         // WAV 8-bit convention
      store_le(a.data.data() + at + i * static_cast<size_t>(bps), v, bps);
    }
  }
  int err = sf_error(sf);
  sf_close(sf);
  if (err != SF_ERR_NO_ERROR) fail_format(std::string("decoding failed: ") + sf_error_number(err));
  return a;
}

}  // namespace lmac
