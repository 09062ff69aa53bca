// Table of broken configurations: each tests/config/broken/NAME.yaml comes with
// NAME.expected, the exact lines `--check` prints for it (FILE is NAME.yaml).
#include <gtest/gtest.h>

#include <algorithm>

#include "config_support.hpp"

using namespace config_test;
using iotgw::config::parse;

namespace {

fs::path broken_dir() {
  return source_dir() / "tests" / "config" / "broken";
}

std::vector<std::string> broken_files() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(broken_dir())) {
    if (e.path().extension() == ".yaml") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

class broken_config : public testing::TestWithParam<std::string> {};

TEST_P(broken_config, reports_exactly_the_expected_errors) {
  const auto name = GetParam();
  const auto yaml = broken_dir() / (name + ".yaml");
  const auto expected_file = broken_dir() / (name + ".expected");
  ASSERT_TRUE(fs::exists(expected_file)) << "no " << expected_file;
  const auto r = parse(read_text(yaml), name + ".yaml", options());
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(lines(r), split_lines(read_text(expected_file)));
}

INSTANTIATE_TEST_SUITE_P(files, broken_config, testing::ValuesIn(broken_files()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           auto n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

TEST(broken_config, every_expected_file_has_its_yaml) {
  for (const auto& e : fs::directory_iterator(broken_dir())) {
    if (e.path().extension() != ".expected") continue;
    auto yaml = e.path();
    yaml.replace_extension(".yaml");
    EXPECT_TRUE(fs::exists(yaml)) << e.path();
  }
  EXPECT_GE(broken_files().size(), 30u);
}

// The same files through load_file: FILE is then the path as given.
TEST(broken_config, load_file_names_the_path_as_given) {
  const auto path = (broken_dir() / "port-zero.yaml").string();
  const auto r = iotgw::config::load_file(path, options());
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(to_string(r.diagnostics[0]),
            path + ":4:9: port must be an integer in 1..65535 (got 0)");
}

}  // namespace
