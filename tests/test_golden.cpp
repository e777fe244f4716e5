// Golden streams (tests/golden/MANIFEST): .lmac files made by an earlier build of this
// arithmetic revision must decode to the very bytes they were made from. Encoding and
// decoding with the same build cannot catch a change made to both sides; these can.
// A stream of another revision is refused before any decoding.
#include <gtest/gtest.h>
#include <nettle/sha2.h>
#include <sys/wait.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "gguf_writer.hpp"
#include "lmac/codec/file_codec.hpp"
#include "lmac/common/arithmetic_revision.hpp"
#include "lmac/lm/ggml_types.hpp"
#include "lmac/models/model_registry.hpp"
#include "test_support.hpp"

namespace lmac {
namespace {

const std::string kGolden = LMAC_GOLDEN_DIR;

std::string sha256_hex(ByteSpan data) {
  sha256_ctx ctx{};
  sha256_init(&ctx);
  sha256_update(&ctx, data.size(), data.data());
  uint8_t digest[SHA256_DIGEST_SIZE];
  sha256_digest(&ctx, sizeof digest, digest);
  std::string hex;
  for (uint8_t b : digest) {
    static const char* kDigits = "0123456789abcdef";
    hex += kDigits[b >> 4];
    hex += kDigits[b & 15];
  }
  return hex;
}

// "golden:q4_k": the quantized-type streams' small random-weight model, made here as
// lmac_make_model --golden made it for scripts/make-golden-streams.sh.
std::string golden_model_file(const std::string& type_name) {
  const GgmlTypeInfo* t = test::type_named(type_name);
  if (t == nullptr) throw std::runtime_error("no golden model " + type_name);
  std::string path = test::temp_dir() + "/golden-" + type_name + ".gguf";
  test::write_bytes(path, test::make_random_llama(test::golden_shape(t->type)));
  return path;
}

const CodecModel& model(const std::string& name) {
  static std::map<std::string, std::unique_ptr<CodecModel>> models;
  auto& m = models[name];
  if (!m) {
    const std::string bundled = std::string(LMAC_SOURCE_DIR) + "/models/tinyllama-text-15m-q8_0.gguf";
    m = load_model(name == "bundled"               ? bundled
                   : name == "mix:bundled"         ? "mix:" + bundled
                   : name.rfind("golden:", 0) == 0 ? golden_model_file(name.substr(7))
                                                   : name);
  }
  return *m;
}

// Decodes every stream of dir/MANIFEST, each of format `version`; returns how many.
int decode_manifest(const std::string& dir, uint16_t version) {
  std::ifstream manifest(dir + "/MANIFEST");
  EXPECT_TRUE(manifest) << dir << "/MANIFEST";
  std::string line;
  int count = 0;
  while (std::getline(manifest, line)) {
    std::istringstream in(line);
    std::string file, model_name, sha;
    size_t size = 0;
    EXPECT_TRUE(in >> file >> model_name >> sha >> size) << line;
    const Bytes stream = test::read_bytes(dir + "/" + file);
    const ParsedStream parsed = parse_lmac(stream);
    EXPECT_TRUE(parsed.damaged.empty()) << file;
    EXPECT_EQ(parsed.version, version) << file;
    CodecOptions o;
    o.threads = 2;
    const DecompressResult r = decompress_audio(model(model_name), parsed, o, false);
    EXPECT_EQ(r.file.size(), size) << file;
    EXPECT_EQ(sha256_hex(r.file), sha) << file << " no longer decodes to its original bytes";
    ++count;
  }
  return count;
}

TEST(GoldenStreams, EveryStreamDecodesToItsRecordedBytes) { EXPECT_GE(decode_manifest(kGolden, kFormatVersion), 10); }

// Streams of this revision that format version 2 wrote (lmac 0.1.0 and 0.2.0) decode too.
TEST(GoldenStreams, EveryVersion2StreamStillDecodes) { EXPECT_GE(decode_manifest(kGolden + "/v2", 2), 10); }

TEST(GoldenStreams, AStreamOfAnotherRevisionIsRefusedBeforeDecoding) {
  for (const auto& [name, revision] :
       {std::pair<std::string, std::string>{"rev3-llm-u8-mono-subword.lmac", "revision 3"},
        {"rev4-audio-u8-mono.lmac", "revision 4"},
        {"rev5-audio-u8-mono.lmac", "revision 5"},
        {"rev6-audio-u8-mono.lmac", "revision 6"},
        {"rev7-llm-u8-mono-subword.lmac", "revision 7"},
        {"rev8-audio-s16-mono-later.lmac", "revision 8"},
        {"rev9-audio-s16-mono-later.lmac", "revision 9"},
        {"rev10-audio-s16-mono-later.lmac", "revision 10"}}) {
    const std::string old = kGolden + "/" + name;
    try {
      parse_lmac(test::read_bytes(old));
      FAIL() << "a stream of " << revision << " was accepted";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(revision), std::string::npos) << e.what();
    }
    // Through the command: one line, exit 1, no output file.
    const std::string out = test::temp_dir() + "/old.wav", err = test::temp_dir() + "/old.err";
    const std::string cmd = std::string(LMAC_BINARY) + " decompress -f " + old + " -o " + out + " 2>" + err;
    const int status = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 1);
    const Bytes e = test::read_bytes(err);
    const std::string msg(e.begin(), e.end());
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
    EXPECT_NE(msg.find(revision), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), msg.size() - 1) << msg;
    EXPECT_FALSE(std::filesystem::exists(out));
  }
  // A made-up future revision is named too, in either format version.
  for (const std::string& dir : {kGolden, kGolden + "/v2"}) {
    Bytes future = test::read_bytes(dir + "/r" + std::to_string(kArithmeticRevision) + "-builtin-u8-mono.lmac");
    const uint8_t later = kArithmeticRevision + 1;
    future[12] = later;  // the revision field follows magic, version and flags
    const std::string named = "revision " + std::to_string(later);
    try {
      parse_lmac(future);
      FAIL() << "a stream of " << named << " was accepted";
    } catch (const std::exception& ex) {
      EXPECT_NE(std::string(ex.what()).find(named), std::string::npos) << ex.what();
    }
  }
}

}  // namespace
}  // namespace lmac
