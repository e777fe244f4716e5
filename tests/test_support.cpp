#include "test_support.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

namespace lmac::test {

const char* content_name(Content c) {
  switch (c) {
    case Content::Silence:
      return "silence";
    case Content::Square:
      return "square";
    case Content::SineNoise:
      return "sine_noise";
    case Content::WhiteNoise:
      return "white_noise";
    case Content::FloatSpecials:
      return "float_specials";
  }
  return "?";
}

Bytes make_pcm(const PcmFormat& f, size_t frames, Content content, uint32_t seed) {
  std::mt19937 rng(seed);
  const int bps = f.bytes_per_sample();
  Bytes out(frames * static_cast<size_t>(f.frame_bytes()));
  const double full = std::ldexp(1.0, f.bits - 1) - 1;
  for (size_t i = 0; i < frames * f.channels; ++i) {
    size_t frame = i / f.channels;
    double x = 0;  // in [-1, 1]
    switch (content) {
      case Content::Silence:
        x = 0;
        break;
      case Content::Square:
        x = (frame / 16) % 2 ? 1.0 : -1.0;
        break;
      case Content::SineNoise:
        x = 0.6 * std::sin(0.05 * static_cast<double>(frame) * (1 + static_cast<double>(i % f.channels))) +
            0.05 * (std::uniform_real_distribution<double>(-1, 1)(rng));
        break;
      case Content::WhiteNoise:
      case Content::FloatSpecials:
        x = std::uniform_real_distribution<double>(-1, 1)(rng);
        break;
    }
    uint64_t v;
    if (f.kind == SampleKind::Float) {
      float fv = static_cast<float>(x);
      if (content == Content::FloatSpecials) {
        const float specials[] = {std::nanf(""), -0.0f, 0.0f, INFINITY, -INFINITY, 1e-40f, -1.0f, 1.0f};
        if (i % 3 == 0) fv = specials[(i / 3) % 8];
      }
      uint32_t b;
      std::memcpy(&b, &fv, 4);
      if (content == Content::FloatSpecials && i % 7 == 0) b = 0x7FC00001u + static_cast<uint32_t>(i);  // NaN payloads
      v = b;
    } else {
      int64_t s = std::llround(x * full);
      if (content == Content::Square) s = x > 0 ? static_cast<int64_t>(full) : -static_cast<int64_t>(full) - 1;
      v = static_cast<uint64_t>(s);
      if (f.kind == SampleKind::Unsigned) v = static_cast<uint64_t>(s + (int64_t{1} << (f.bits - 1)));
    }
    uint8_t* p = out.data() + i * static_cast<size_t>(bps);
    store_endian(p, v, bps, f.big_endian);
  }
  return out;
}

Bytes make_wav(const PcmFormat& f, ByteSpan data, bool extra_chunks) {
  Bytes out = make_wav_header(f, data.size());
  if (extra_chunks) {
    // A 'fact'-like odd chunk before the data: insert it after fmt by rebuilding.
    Bytes head(out.begin(), out.end() - 8);
    const char odd[] = {'f', 'a', 'c', 't', 3, 0, 0, 0, 'a', 'b', 'c', 0};
    head.insert(head.end(), odd, odd + sizeof odd);
    head.insert(head.end(), out.end() - 8, out.end());
    out = head;
  }
  out.insert(out.end(), data.begin(), data.end());
  if (data.size() % 2) out.push_back(0);
  if (extra_chunks) {
    const char list[] = {'L', 'I', 'S', 'T', 4, 0, 0, 0, 'I', 'N', 'F', 'O'};
    out.insert(out.end(), list, list + sizeof list);
  }
  store_le(out.data() + 4, out.size() - 8, 4);
  return out;
}

Bytes make_aiff(const PcmFormat& f, ByteSpan data) {
  bool aifc = !f.big_endian || f.kind == SampleKind::Float;
  Bytes out;
  auto put_be = [&](uint64_t v, int n) {
    size_t at = out.size();
    out.resize(at + static_cast<size_t>(n));
    store_be(out.data() + at, v, n);
  };
  auto tag = [&](const char* t) { out.insert(out.end(), t, t + 4); };
  tag("FORM");
  put_be(0, 4);
  tag(aifc ? "AIFC" : "AIFF");
  tag("COMM");
  put_be(aifc ? 24 : 18, 4);
  put_be(f.channels, 2);
  put_be(data.size() / static_cast<size_t>(f.frame_bytes()), 4);
  put_be(f.bits, 2);
  // 80-bit extended sample rate
  int e = 0;
  uint64_t m = f.rate;
  while (m && !(m & (1ull << 63))) {
    m <<= 1;
    ++e;
  }
  put_be(f.rate ? static_cast<uint64_t>(16383 + 63 - e) : 0, 2);
  put_be(m, 8);
  if (aifc) {
    tag(f.kind == SampleKind::Float ? "fl32" : f.big_endian ? "NONE" : "sowt");
    put_be(0, 2);  // empty pascal name + pad
  }
  tag("SSND");
  put_be(data.size() + 8, 4);
  put_be(0, 4);
  put_be(0, 4);
  out.insert(out.end(), data.begin(), data.end());
  if (data.size() % 2) out.push_back(0);
  store_be(out.data() + 4, out.size() - 8, 4);
  return out;
}

std::string temp_dir() {
  // A new directory for each process (a directory named by the pid may be left from an
  // earlier process with the same pid, holding files a test expects not to exist),
  // removed when the process ends.
  struct Dir {
    std::string path = (std::filesystem::temp_directory_path() / "lmac-test-XXXXXX").string();
    Dir() {
      if (::mkdtemp(path.data()) == nullptr) throw std::runtime_error("cannot make a temporary directory");
    }
    ~Dir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const Dir dir;
  return dir.path;
}

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, ByteSpan data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

}  // namespace lmac::test
