// Codec hot paths: a STREAM_DATA frame carrying a ~100-byte JSON object (a
// zigbee2mqtt sensor state), encoded, decoded, and converted from JSON.
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>
#include <string>

#include "alloc_counter.hpp"
#include "iotmp_gateway/iotmp/frame_decoder.hpp"
#include "iotmp_gateway/pson/codec.hpp"
#include "iotmp_gateway/pson/json.hpp"

using namespace iotgw;

namespace {

// 104 bytes of JSON, as zigbee2mqtt publishes a temperature sensor's state.
const std::string sensor_json =
    R"({"battery":97,"humidity":48.2,"linkquality":120,"temperature":21.5,"voltage":2995,"state":"ON"})"
    R"( )";

pson::value sensor_value() {
  pson::value v;
  pson::parse_json(sensor_json, v);
  return v;
}

// Reports allocations per iteration next to the time.
class alloc_scope {
 public:
  explicit alloc_scope(benchmark::State& state) : state_(state), start_(bench_support::allocations()) {}
  ~alloc_scope() {
    state_.counters["allocs/op"] = benchmark::Counter(
        static_cast<double>(bench_support::allocations() - start_),
        benchmark::Counter::kAvgIterations);
  }

 private:
  benchmark::State& state_;
  std::uint64_t start_;
};

void encode_stream_data_from_value(benchmark::State& state) {
  const iotmp::message m{iotmp::message_type::stream_data, 0x0101, {}, sensor_value(), {}};
  byte_buffer out;
  out.reserve(256);
  alloc_scope allocs(state);
  for (auto _ : state) {
    out.clear();
    iotmp::encode(m, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}
BENCHMARK(encode_stream_data_from_value);

void encode_stream_data_preencoded(benchmark::State& state) {
  const auto payload = pson::encode(sensor_value());
  byte_buffer out;
  out.reserve(256);
  alloc_scope allocs(state);
  for (auto _ : state) {
    out.clear();
    iotmp::encode_stream_data(0x0101, payload, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(encode_stream_data_preencoded);

void decode_stream_data_frame(benchmark::State& state) {
  const auto frame =
      iotmp::encode(iotmp::message{iotmp::message_type::stream_data, 0x0101, {}, sensor_value(), {}});
  iotmp::frame_decoder decoder;
  iotmp::message_view view;
  decoder.feed(frame);  // warm the buffer up once
  decoder.next(view);
  alloc_scope allocs(state);
  for (auto _ : state) {
    decoder.feed(frame);
    decoder.next(view);
    benchmark::DoNotOptimize(view.payload.pson.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * frame.size()));
}
BENCHMARK(decode_stream_data_frame);

void decode_stream_data_to_value(benchmark::State& state) {
  const auto frame =
      iotmp::encode(iotmp::message{iotmp::message_type::stream_data, 0x0101, {}, sensor_value(), {}});
  iotmp::frame_decoder decoder;
  iotmp::message_view view;
  alloc_scope allocs(state);
  for (auto _ : state) {
    decoder.feed(frame);
    decoder.next(view);
    auto v = view.payload.to_value();
    benchmark::DoNotOptimize(&v);
  }
}
BENCHMARK(decode_stream_data_to_value);

void json_to_pson(benchmark::State& state) {
  byte_buffer out;
  out.reserve(256);
  alloc_scope allocs(state);
  for (auto _ : state) {
    pson::value v;
    pson::parse_json(sensor_json, v);
    out.clear();
    pson::encode(v, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * sensor_json.size()));
}
BENCHMARK(json_to_pson);

// The alternative we measured against: build nlohmann's own document, then walk it.
pson::value from_document(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: {
      std::vector<pson::object::member> members;
      members.reserve(j.size());
      for (const auto& [k, v] : j.items()) members.emplace_back(k, from_document(v));
      return pson::value(pson::object::from_members(std::move(members)));
    }
    case nlohmann::json::value_t::array: {
      pson::array a;
      for (const auto& v : j) a.push_back(from_document(v));
      return pson::value(std::move(a));
    }
    case nlohmann::json::value_t::string: return pson::value(j.get<std::string>());
    case nlohmann::json::value_t::boolean: return pson::value(j.get<bool>());
    case nlohmann::json::value_t::number_integer: return pson::value(j.get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned: return pson::value(j.get<std::uint64_t>());
    case nlohmann::json::value_t::number_float: return pson::value(j.get<double>());
    default: return pson::value(nullptr);
  }
}

void json_to_pson_via_nlohmann_document(benchmark::State& state) {
  byte_buffer out;
  out.reserve(256);
  alloc_scope allocs(state);
  for (auto _ : state) {
    const auto doc = nlohmann::json::parse(sensor_json);
    out.clear();
    pson::encode(from_document(doc), out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(json_to_pson_via_nlohmann_document);

void pson_to_json(benchmark::State& state) {
  const pson::value v = sensor_value();
  std::string out;
  out.reserve(256);
  alloc_scope allocs(state);
  for (auto _ : state) {
    out.clear();
    pson::append_json(v, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(pson_to_json);

}  // namespace

BENCHMARK_MAIN();
