// Loads the golden vectors of ../shared/iotmp/vectors at test time.
#pragma once

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace test_support {

struct tsv_row {
  std::vector<std::string> columns;
};

// $IOTMP_VECTORS_DIR, else the folder CMake was given (IOTMP_VECTORS_DIR option).
inline std::string vectors_dir() {
  const char* dir = std::getenv("IOTMP_VECTORS_DIR");
  return dir != nullptr && *dir != '\0' ? dir : IOTMP_DEFAULT_VECTORS_DIR;
}

// Rows of a TAB-separated file with no header; columns are split on TAB only.
inline std::vector<tsv_row> read_tsv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<tsv_row> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    tsv_row row;
    std::size_t start = 0;
    while (true) {
      const auto tab = line.find('\t', start);
      row.columns.push_back(line.substr(start, tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace test_support
