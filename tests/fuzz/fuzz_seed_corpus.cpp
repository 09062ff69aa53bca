// Writes seed corpora for the fuzzers from the golden vectors:
//   fuzz_seed_corpus VECTORS_DIR OUT_DIR
// creates OUT_DIR/{frames,pson,json}/ with one file per seed.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "iotmp_gateway/iotmp/frame_decoder.hpp"
#include "iotmp_gateway/pson/codec.hpp"
#include "iotmp_gateway/pson/json.hpp"
#include "support/hex.hpp"
#include "support/vectors.hpp"

namespace fs = std::filesystem;

namespace {

void write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

std::string as_string(const std::vector<std::uint8_t>& b) { return {b.begin(), b.end()}; }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: fuzz_seed_corpus VECTORS_DIR OUT_DIR\n";
    return 2;
  }
  const fs::path out = argv[2];
  for (const char* sub : {"frames", "pson", "json"}) fs::create_directories(out / sub);
  int count = 0;
  for (const auto& row : test_support::read_tsv(std::string(argv[1]) + "/vectors.tsv")) {
    const auto& name = row.columns.at(0);
    const auto bytes = test_support::from_hex(row.columns.at(2));
    if (name.starts_with("pson.")) {
      write(out / "pson", name, as_string(bytes));
      iotgw::pson::value v;
      if (iotgw::pson::decode_all(bytes, v)) write(out / "json", name, iotgw::pson::to_json(v));
    } else if (!name.starts_with("legacy.pson.")) {
      // The frame fuzzer reads a chunk-size byte first.
      write(out / "frames", name, "\x05" + as_string(bytes));
      iotgw::iotmp::frame_decoder d;
      d.feed(bytes);
      iotgw::iotmp::message_view v;
      if (d.next(v) == iotgw::iotmp::frame_decoder::status::frame && v.payload.present()) {
        write(out / "pson", name + ".payload", as_string({v.payload.pson.begin(), v.payload.pson.end()}));
        write(out / "json", name + ".payload", iotgw::pson::to_json(v.payload.to_value()));
      }
    }
    ++count;
  }
  for (const auto& row : test_support::read_tsv(std::string(argv[1]) + "/malformed.tsv")) {
    write(out / "frames", row.columns.at(0),
          "\x03" + as_string(test_support::from_hex(row.columns.at(1))));
    ++count;
  }
  std::printf("wrote seeds from %d vector rows to %s\n", count, out.c_str());
  return 0;
}
