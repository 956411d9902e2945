#include "diag.h"

#include <strings.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace otb {
namespace {

std::atomic<int32_t> g_level{-1};  // -1 = not yet read from OTEL_LOG_LEVEL
std::atomic<otel_diag_fn> g_fn{nullptr};
std::atomic<void *> g_user{nullptr};

int32_t level_from_env() {
  const char *v = getenv("OTEL_LOG_LEVEL");
  if (!v || !*v) return OTEL_DIAG_INFO;
  int32_t l = diag_parse_level(v, strlen(v));
  return l < 0 ? OTEL_DIAG_INFO : l;
}

const char *level_name(int32_t l) {
  switch (l) {
    case OTEL_DIAG_ERROR:
      return "error";
    case OTEL_DIAG_WARN:
      return "warn";
    case OTEL_DIAG_INFO:
      return "info";
    default:
      return "debug";
  }
}

}  // namespace

int32_t diag_parse_level(const char *s, size_t n) {
  struct {
    const char *name;
    int32_t level;
  } static const kLevels[] = {{"none", 0},
                              {"off", 0},
                              {"error", OTEL_DIAG_ERROR},
                              {"fatal", OTEL_DIAG_ERROR},
                              {"warn", OTEL_DIAG_WARN},
                              {"warning", OTEL_DIAG_WARN},
                              {"info", OTEL_DIAG_INFO},
                              {"debug", OTEL_DIAG_DEBUG},
                              {"trace", OTEL_DIAG_DEBUG},
                              {"all", OTEL_DIAG_DEBUG}};
  for (const auto &l : kLevels)
    if (strlen(l.name) == n && strncasecmp(l.name, s, n) == 0) return l.level;
  return -1;
}

int32_t diag_level() {
  int32_t l = g_level.load(std::memory_order_relaxed);
  if (__builtin_expect(l < 0, 0)) {
    l = level_from_env();
    g_level.store(l, std::memory_order_relaxed);
  }
  return l;
}

void diag_set_level(int32_t level) {
  g_level.store(level, std::memory_order_relaxed);
}

void diag_set_sink(otel_diag_fn fn, void *user_data) {
  g_user.store(user_data, std::memory_order_relaxed);
  g_fn.store(fn, std::memory_order_release);
}

void diag(int32_t level, const char *fmt, ...) {
  if (level > diag_level()) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  size_t len = static_cast<size_t>(n) < sizeof msg ? static_cast<size_t>(n) : sizeof msg - 1;
  otel_diag_fn fn = g_fn.load(std::memory_order_acquire);
  if (fn) {
    fn(level, otel_str{msg, len}, g_user.load(std::memory_order_relaxed));
    return;
  }
  // One write() per line so lines from several threads (and forked children) do not interleave.
  char line[1100];
  int m = snprintf(line, sizeof line, "otelbridge: %s: %.*s\n", level_name(level),
                   static_cast<int>(len), msg);
  if (m > 0) {
    ssize_t ignored = write(2, line, static_cast<size_t>(m) < sizeof line ? m : sizeof line - 1);
    (void)ignored;
  }
}

}  // namespace otb
