#include <gtest/gtest.h>
#include <stdlib.h>

#include "config.h"
#include "diag.h"

using otb::CodeConfig;

namespace {
struct EnvVar {
  std::string k;
  EnvVar(const char *key, const char *v) : k(key) { setenv(key, v, 1); }
  ~EnvVar() { unsetenv(k.c_str()); }
};
std::vector<std::string> g_diags;
void capture(int32_t, otel_str m, void *) {
  g_diags.emplace_back(m.ptr, m.len);
}
struct CaptureDiags {
  CaptureDiags() {
    g_diags.clear();
    otb::diag_set_sink(&capture, nullptr);
    otb::diag_set_level(OTEL_DIAG_DEBUG);
  }
  ~CaptureDiags() { otb::diag_set_sink(nullptr, nullptr); }
};
}  // namespace

TEST(Config, UnknownKeyAndBadValueFromCodeAreErrors) {
  CodeConfig c;
  std::string err;
  EXPECT_EQ(otb::config_set(c, "OTEL_NO_SUCH_THING", "1", &err), OTEL_E_UNKNOWN_KEY);
  EXPECT_NE(err.find("OTEL_NO_SUCH_THING"), std::string::npos);
  EXPECT_EQ(otb::config_set(c, "OTEL_BLRP_MAX_QUEUE_SIZE", "lots", &err), OTEL_E_INVALID_CONFIG);
  EXPECT_EQ(otb::config_set(c, "OTEL_BLRP_MAX_QUEUE_SIZE", "-5", &err), OTEL_E_INVALID_CONFIG);
  EXPECT_EQ(otb::config_set(c, "OTEL_LOGS_EXPORTER", "kafka", &err), OTEL_E_INVALID_CONFIG);
  EXPECT_EQ(otb::config_set(c, "OTEL_SDK_DISABLED", "yes", &err), OTEL_E_INVALID_CONFIG);
  EXPECT_EQ(otb::config_set(c, "OTEL_LOGS_EXPORTER", "Console", &err), OTEL_OK)
      << "enums are case-insensitive";
  EXPECT_EQ(c.values["OTEL_LOGS_EXPORTER"], "console");
}

TEST(Config, CodeWinsOverEnvironmentWhichWinsOverDefaults) {
  EnvVar a("OTEL_BLRP_MAX_QUEUE_SIZE", "100"), b("OTEL_BLRP_SCHEDULE_DELAY", "250");
  CodeConfig c;
  std::string err;
  ASSERT_EQ(otb::config_set(c, "OTEL_BLRP_MAX_QUEUE_SIZE", "50", &err), OTEL_OK);
  std::vector<otb::Resolved> all;
  otb::Settings s = otb::resolve_settings(&c, &all);
  EXPECT_EQ(s.logs.max_queue_size, 50u);
  EXPECT_EQ(s.logs.schedule_delay_ms, 250u);
  EXPECT_EQ(s.logs.export_timeout_ms, 30000u);
  for (auto &r : all) {
    if (r.key == "OTEL_BLRP_MAX_QUEUE_SIZE") {
      EXPECT_EQ(r.source, otb::Source::kCode);
    } else if (r.key == "OTEL_BLRP_SCHEDULE_DELAY") {
      EXPECT_EQ(r.source, otb::Source::kEnvironment);
    } else if (r.key == "OTEL_BLRP_EXPORT_TIMEOUT") {
      EXPECT_EQ(r.source, otb::Source::kDefault);
    }
  }
  EXPECT_EQ(s.logs.max_export_batch_size, 50u) << "batch size is clamped to the queue size";
}

TEST(Config, BadEnvironmentValuesWarnAndUseTheDefault) {
  CaptureDiags cap;
  EnvVar a("OTEL_BLRP_MAX_QUEUE_SIZE", "many"), b("OTEL_SDK_DISABLED", "yes"),
      c("OTEL_BLRP_EXPORT_TIMEOUT", "");
  otb::Settings s = otb::resolve_settings(nullptr, nullptr);
  EXPECT_EQ(s.logs.max_queue_size, 2048u);
  EXPECT_FALSE(s.disabled) << "only 'true' is true";
  EXPECT_EQ(s.logs.export_timeout_ms, 30000u) << "empty means unset";
  ASSERT_EQ(g_diags.size(), 2u);
  EXPECT_NE(g_diags[0].find("OTEL_SDK_DISABLED"), std::string::npos);
  EXPECT_NE(g_diags[1].find("OTEL_BLRP_MAX_QUEUE_SIZE"), std::string::npos);
}

TEST(Config, ResourceAttributesArePercentDecodedOrDiscardedWhole) {
  std::vector<std::pair<std::string, std::string>> kv;
  ASSERT_TRUE(otb::parse_kv_list("k1=v%201, k2=a%2Cb,k3=", &kv));
  ASSERT_EQ(kv.size(), 3u);
  EXPECT_EQ(kv[0].second, "v 1");
  EXPECT_EQ(kv[1].second, "a,b");
  EXPECT_EQ(kv[2].second, "");
  EXPECT_FALSE(otb::parse_kv_list("k1=ok,k2=bad%zz", &kv));
  EXPECT_FALSE(otb::parse_kv_list("k1=ok,novalue", &kv));
  EXPECT_FALSE(otb::parse_kv_list("k=%4", &kv));
  CaptureDiags cap;
  EnvVar a("OTEL_RESOURCE_ATTRIBUTES", "a=1,b=%G0");
  otb::Settings s = otb::resolve_settings(nullptr, nullptr);
  EXPECT_TRUE(s.resource_attributes.empty()) << "a decode error discards the whole variable";
  EXPECT_EQ(g_diags.size(), 1u);
}

TEST(Config, AttributeLimitFallbacks) {
  EnvVar a("OTEL_ATTRIBUTE_COUNT_LIMIT", "7"), b("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "9");
  otb::Settings s = otb::resolve_settings(nullptr, nullptr);
  EXPECT_EQ(s.log_attr_count_limit, 7u);
  EXPECT_EQ(s.log_attr_value_chars, 9u);
  EnvVar c("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "3");
  s = otb::resolve_settings(nullptr, nullptr);
  EXPECT_EQ(s.log_attr_count_limit, 3u);
}
