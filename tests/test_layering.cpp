// The library's modules depend one way (docs/DESIGN.md, "Modules"), and a module's
// detail/ headers are its own: read from the sources, so a new include that closes a
// cycle or reaches into another module's internals fails here.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

namespace {

namespace fs = std::filesystem;

// Each module with the modules below it that it may include.
const std::map<std::string, std::set<std::string>> kAllowed = {
    {"common", {}},
    {"audio", {"common"}},
    {"serial", {"common", "audio"}},
    {"coding", {"common"}},
    {"container", {"common", "audio", "serial", "coding"}},
    {"lm", {"common", "coding"}},
    {"mixing", {"common", "coding"}},
    {"codec", {"common", "audio", "serial", "coding", "container", "mixing"}},
    {"models", {"common", "audio", "serial", "coding", "container", "codec", "lm"}},
    {"baselines", {"common", "audio"}},
    {"eval", {"common", "audio", "serial", "coding", "container", "codec", "baselines"}},
};

struct Include {
  std::string module, detail;  // detail: "detail" when it names a detail/ header
};

std::vector<Include> includes_of(const fs::path& file) {
  const std::string prefix = "#include \"lmac/";
  std::vector<Include> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) != 0) continue;
    const std::string path = line.substr(prefix.size(), line.find('"', prefix.size()) - prefix.size());
    const size_t slash = path.find('/');
    if (slash == std::string::npos) continue;
    out.push_back({path.substr(0, slash), path.find("/detail/") != std::string::npos ? "detail" : ""});
  }
  return out;
}

TEST(Layering, ModulesIncludeOnlyTheLayersBelowThemAndNoOnesDetails) {
  const fs::path root = fs::path(LMAC_SOURCE_DIR);
  size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root / "lib/lmac")) {
    const std::string ext = entry.path().extension().string();
    if (ext != ".cpp" && ext != ".hpp" && ext != ".cu") continue;
    const std::string module = fs::relative(entry.path(), root / "lib/lmac").begin()->string();
    ASSERT_TRUE(kAllowed.count(module)) << "module " << module << " is not in the layering table";
    ++files;
    for (const Include& inc : includes_of(entry.path())) {
      if (inc.module == module) continue;
      EXPECT_TRUE(kAllowed.at(module).count(inc.module)) << entry.path() << " includes lmac/" << inc.module;
      EXPECT_TRUE(inc.detail.empty()) << entry.path() << " includes a detail header of " << inc.module;
    }
  }
  EXPECT_GT(files, 50u);
  for (const char* outside : {"cli", "tests", "bench", "fuzz"})
    for (const auto& entry : fs::recursive_directory_iterator(root / outside))
      for (const Include& inc : includes_of(entry.path()))
        EXPECT_TRUE(inc.detail.empty()) << entry.path() << " includes a detail header of " << inc.module;
}

}  // namespace
