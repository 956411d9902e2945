// The C ABI's answers to bad input: a status, never a crash.
#include <gtest/gtest.h>

#include "otelbridge/otelbridge.h"

namespace {
otel_str S(const char *s) {
  return otel_cstr(s);
}
}  // namespace

TEST(Abi, NullsAndBadLengths) {
  EXPECT_EQ(otel_config_new(nullptr), OTEL_E_INVALID_ARG);
  otel_config *cfg;
  ASSERT_EQ(otel_config_new(&cfg), OTEL_OK);
  char err[128] = "untouched";
  EXPECT_EQ(otel_config_set(nullptr, S("OTEL_SDK_DISABLED"), S("true"), err, sizeof err),
            OTEL_E_INVALID_ARG);
  EXPECT_EQ(otel_config_set(cfg, otel_str{nullptr, 4}, S("x"), err, sizeof err),
            OTEL_E_INVALID_ARG);
  EXPECT_EQ(otel_config_set(cfg, S("OTEL_BOGUS"), S("x"), err, sizeof err), OTEL_E_UNKNOWN_KEY);
  EXPECT_STREQ(err, "unknown configuration key 'OTEL_BOGUS' (see docs/configuration.md)");
  char tiny[8];
  EXPECT_EQ(otel_config_set(cfg, S("OTEL_BOGUS"), S("x"), tiny, sizeof tiny), OTEL_E_UNKNOWN_KEY);
  EXPECT_EQ(strlen(tiny), 7u) << "error messages are truncated to the buffer, NUL-terminated";
  EXPECT_EQ(otel_config_set(cfg, S("OTEL_BOGUS"), S("x"), nullptr, 0), OTEL_E_UNKNOWN_KEY);
  EXPECT_EQ(otel_config_add_resource_attrs(cfg, nullptr, 2, nullptr, 0), OTEL_E_INVALID_ARG);
  otel_attr empty_key = {S(""), otel_value_int(1)};
  EXPECT_EQ(otel_config_add_resource_attrs(cfg, &empty_key, 1, nullptr, 0), OTEL_E_INVALID_ARG);
  EXPECT_EQ(otel_engine_new(cfg, nullptr, nullptr, 0), OTEL_E_INVALID_ARG);
  EXPECT_EQ(otel_log_emit(nullptr, 0, 0, 9, S(""), nullptr, nullptr, 0, S(""), nullptr),
            OTEL_E_INVALID_ARG);
  EXPECT_EQ(otel_engine_free(nullptr), OTEL_E_INVALID_ARG);
  EXPECT_STREQ(otel_status_str(-999), "unknown status");
  EXPECT_STREQ(otel_version(), OTEL_VERSION_STRING);
  otel_config_free(cfg);
  otel_config_free(nullptr);
}

TEST(Abi, EmitChecksAndLifecycle) {
  otel_config *cfg;
  ASSERT_EQ(otel_config_new(&cfg), OTEL_OK);
  ASSERT_EQ(otel_config_set(cfg, S("OTEL_LOGS_EXPORTER"), S("file"), nullptr, 0), OTEL_OK);
  ASSERT_EQ(otel_config_set(cfg, S("OTELBRIDGE_FILE_PATH"), S("/dev/null"), nullptr, 0), OTEL_OK);
  otel_engine *e = nullptr;
  ASSERT_EQ(otel_engine_new(cfg, &e, nullptr, 0), OTEL_OK);
  otel_config_free(cfg);
  otel_scope *sc = nullptr;
  EXPECT_EQ(otel_scope_get(e, otel_str{nullptr, 3}, S(""), S(""), nullptr, 0, &sc),
            OTEL_E_INVALID_ARG);
  ASSERT_EQ(otel_scope_get(e, S("abi"), S(""), S(""), nullptr, 0, &sc), OTEL_OK);
  otel_scope *again = nullptr;
  ASSERT_EQ(otel_scope_get(e, S("abi"), S(""), S(""), nullptr, 0, &again), OTEL_OK);
  EXPECT_EQ(sc, again) << "the same scope arguments give the same scope";
  EXPECT_EQ(otel_log_emit(sc, 0, 0, 25, S(""), nullptr, nullptr, 0, S(""), nullptr),
            OTEL_E_INVALID_ARG);
  EXPECT_EQ(otel_log_emit(sc, 0, 0, -1, S(""), nullptr, nullptr, 0, S(""), nullptr),
            OTEL_E_INVALID_ARG);
  EXPECT_EQ(otel_log_emit(sc, 0, 0, 9, otel_str{nullptr, 1}, nullptr, nullptr, 0, S(""), nullptr),
            OTEL_E_INVALID_ARG);
  EXPECT_EQ(otel_log_emit(sc, 0, 0, 9, S(""), nullptr, nullptr, 3, S(""), nullptr),
            OTEL_E_INVALID_ARG);
  EXPECT_EQ(otel_log_emit(sc, 0, 0, 9, S(""), nullptr, nullptr, SIZE_MAX, S(""), nullptr),
            OTEL_E_INVALID_ARG);
  otel_value bad = otel_value_str(otel_str{nullptr, 10});
  EXPECT_EQ(otel_log_emit(sc, 0, 0, 9, S(""), &bad, nullptr, 0, S(""), nullptr),
            OTEL_E_INVALID_ARG);
  EXPECT_EQ(otel_log_emit(sc, 0, 0, 9, S("INFO"), nullptr, nullptr, 0, S(""), nullptr), OTEL_OK);
  uint64_t st[OTEL_STAT_COUNT + 2];
  ASSERT_EQ(otel_engine_stats(e, OTEL_SIGNAL_LOGS, st, OTEL_STAT_COUNT + 2), OTEL_OK);
  EXPECT_EQ(st[OTEL_STAT_INVALID], 6u);
  EXPECT_EQ(st[OTEL_STAT_ACCEPTED], 1u);
  EXPECT_EQ(st[OTEL_STAT_COUNT], 0u) << "entries past OTEL_STAT_COUNT are zero";
  EXPECT_EQ(otel_engine_stats(e, 7, st, OTEL_STAT_COUNT), OTEL_E_INVALID_ARG);
  EXPECT_EQ(otel_engine_shutdown(e, 5000), OTEL_OK);
  EXPECT_EQ(otel_engine_shutdown(e, 5000), OTEL_E_SHUTDOWN);
  EXPECT_EQ(otel_log_emit(sc, 0, 0, 9, S(""), nullptr, nullptr, 0, S(""), nullptr),
            OTEL_E_SHUTDOWN);
  EXPECT_EQ(otel_scope_get(e, S("late"), S(""), S(""), nullptr, 0, &sc), OTEL_E_SHUTDOWN);
  EXPECT_EQ(otel_engine_flush(e, 10), OTEL_E_SHUTDOWN);
  EXPECT_EQ(otel_engine_stats(e, OTEL_SIGNAL_LOGS, st, OTEL_STAT_COUNT), OTEL_OK)
      << "stats work after shutdown";
  EXPECT_EQ(st[OTEL_STAT_EXPORTED], 1u);
  EXPECT_EQ(otel_engine_free(e), OTEL_OK);
}

TEST(Abi, ConfigErrorsReachTheCaller) {
  otel_config *cfg;
  ASSERT_EQ(otel_config_new(&cfg), OTEL_OK);
  char err[256] = "";
  EXPECT_EQ(otel_config_set(cfg, S("OTEL_BLRP_SCHEDULE_DELAY"), S("soon"), err, sizeof err),
            OTEL_E_INVALID_CONFIG);
  EXPECT_NE(std::string(err).find("OTEL_BLRP_SCHEDULE_DELAY"), std::string::npos);
  ASSERT_EQ(otel_config_set(cfg, S("OTEL_LOGS_EXPORTER"), S("file"), nullptr, 0), OTEL_OK);
  ASSERT_EQ(
      otel_config_set(cfg, S("OTELBRIDGE_FILE_PATH"), S("/nonexistent-dir/x.jsonl"), nullptr, 0),
      OTEL_OK);
  otel_engine *e = nullptr;
  EXPECT_EQ(otel_engine_new(cfg, &e, err, sizeof err), OTEL_E_INVALID_CONFIG);
  EXPECT_NE(std::string(err).find("/nonexistent-dir/x.jsonl"), std::string::npos) << err;
  otel_config_free(cfg);
}

TEST(Abi, DisabledEngineViaConfig) {
  otel_config *cfg;
  ASSERT_EQ(otel_config_new(&cfg), OTEL_OK);
  ASSERT_EQ(otel_config_set(cfg, S("OTEL_SDK_DISABLED"), S("TRUE"), nullptr, 0), OTEL_OK);
  otel_engine *e = nullptr;
  ASSERT_EQ(otel_engine_new(cfg, &e, nullptr, 0), OTEL_OK);
  otel_config_free(cfg);
  EXPECT_EQ(otel_engine_is_disabled(e), 1);
  otel_scope *sc;
  ASSERT_EQ(otel_scope_get(e, S("d"), S(""), S(""), nullptr, 0, &sc), OTEL_OK);
  EXPECT_EQ(otel_log_emit(sc, 0, 0, 99, S(""), nullptr, nullptr, 0, S(""), nullptr), OTEL_OK)
      << "a disabled engine does no work at all, not even argument checks";
  EXPECT_EQ(otel_engine_free(e), OTEL_OK);
}

TEST(Abi, ViewsThroughTheConfig) {
  otel_config *cfg;
  ASSERT_EQ(otel_config_new(&cfg), OTEL_OK);
  char err[256] = "";
  const double bounds[] = {10, 1};
  EXPECT_EQ(otel_config_add_view(cfg, S("h"), S(""), S(""), OTEL_AGGREGATION_EXPLICIT_BUCKETS,
                                 bounds, 2, 0, nullptr, 0, err, sizeof err),
            OTEL_E_INVALID_CONFIG);
  EXPECT_NE(std::string(err).find("strictly increasing"), std::string::npos) << err;
  EXPECT_EQ(otel_config_add_view(cfg, S("h*"), S("renamed"), S(""), 0, nullptr, 0, 0, nullptr, 0,
                                 err, sizeof err),
            OTEL_E_INVALID_CONFIG);
  otel_str keep = S("route");
  EXPECT_EQ(otel_config_add_view(cfg, S("h"), S("latency"), S(""), 0, nullptr, 0, 1, &keep, 1, err,
                                 sizeof err),
            OTEL_OK);
  EXPECT_EQ(otel_config_set(cfg, S("OTELBRIDGE_METRICS_VIEWS"), S("instrument=x colour=red"), err,
                            sizeof err),
            OTEL_E_INVALID_CONFIG);
  EXPECT_NE(std::string(err).find("colour"), std::string::npos) << err;
  otel_config_free(cfg);
}
