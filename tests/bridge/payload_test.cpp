#include "iotmp_gateway/bridge/payload.hpp"

#include <gtest/gtest.h>

#include "iotmp_gateway/pson/codec.hpp"
#include "support/print.hpp"

using namespace iotgw::bridge;
using iotgw::pson::array;
using iotgw::pson::object;
using iotgw::pson::value;

namespace {

TEST(payload, local_to_cloud_per_format) {
  using f = payload_format;
  EXPECT_EQ(mqtt_to_value(R"({"temperature":21.5})", f::json), value(object{{"temperature", 21.5}}));
  EXPECT_FALSE(mqtt_to_value("ON", f::json)) << "invalid JSON is not forwarded";
  EXPECT_EQ(mqtt_to_value("ON", f::auto_detect), value("ON"));
  EXPECT_EQ(mqtt_to_value("21.5", f::auto_detect), value(21.5));
  EXPECT_EQ(mqtt_to_value("", f::auto_detect), value(""));
  EXPECT_EQ(mqtt_to_value("21.5", f::string), value("21.5"));
  EXPECT_EQ(mqtt_to_value("21.5", f::number), value(21.5));
  EXPECT_FALSE(mqtt_to_value("\"21.5\"", f::number));
  EXPECT_FALSE(mqtt_to_value("true", f::number));
  EXPECT_EQ(mqtt_to_value(std::string("\x00\xff", 2), f::bytes),
            value(iotgw::pson::as_bytes, {0x00, 0xff}));

  iotgw::byte_buffer out = {0x99};
  EXPECT_FALSE(mqtt_to_pson("{", f::json, out));
  EXPECT_EQ(out.size(), 1u) << "a refused payload appends nothing";
  EXPECT_TRUE(mqtt_to_pson("on", f::string, out));
  EXPECT_EQ(out, (iotgw::byte_buffer{0x99, 0x82, 'o', 'n'}));
}

TEST(payload, cloud_input_to_local_per_format) {
  using f = payload_format;
  std::string error;
  EXPECT_EQ(value_to_mqtt(value(7), f::number, &error), "7");
  EXPECT_EQ(value_to_mqtt(value(2.5), f::number, &error), "2.5");
  EXPECT_FALSE(value_to_mqtt(value("7"), f::number, &error));
  EXPECT_EQ(error, "input is not a number");
  EXPECT_FALSE(value_to_mqtt(value(true), f::number, &error));
  EXPECT_EQ(value_to_mqtt(value("ON"), f::string, &error), "ON");
  EXPECT_EQ(value_to_mqtt(value(object{{"state", "ON"}}), f::string, &error), R"({"state":"ON"})");
  EXPECT_EQ(value_to_mqtt(value("ON"), f::auto_detect, &error), "ON");
  EXPECT_EQ(value_to_mqtt(value("ON"), f::json, &error), R"("ON")");
  EXPECT_EQ(value_to_mqtt(value(object{{"brightness", 128}, {"state", "ON"}}), f::json, &error),
            R"({"brightness":128,"state":"ON"})");
  EXPECT_EQ(value_to_mqtt(value(iotgw::pson::as_bytes, {'h', 'i'}), f::json, &error), "hi");
  EXPECT_EQ(value_to_mqtt(value(array{1, 2}), f::bytes, &error), "[1,2]");
}

TEST(payload, cloud_to_local_on_subscribe_streams) {
  EXPECT_EQ(cloud_value_to_mqtt(value("on")), "on");
  EXPECT_EQ(cloud_value_to_mqtt(value(5)), "5");
  EXPECT_EQ(cloud_value_to_mqtt(value(object{{"a", nullptr}})), R"({"a":null})");
  EXPECT_EQ(cloud_value_to_mqtt(value(iotgw::pson::as_bytes, {1, 2})), std::string("\x01\x02"));
}

}  // namespace
