#include "resource.h"

#include <unistd.h>

#include <climits>
#include <cstring>

#include "encode.h"

namespace otb {
namespace {

std::string to_string(const Buf &b) {
  return std::string(reinterpret_cast<const char *>(b.data()), b.size());
}

std::string executable_name() {
  char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return "unknown";
  path[n] = 0;
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

}  // namespace

std::string any_string(const std::string &s) {
  Buf b;
  put_string(b, 1, otel_str{s.data(), s.size()});
  return to_string(b);
}

std::string any_int(int64_t v) {
  Buf b;
  put_tag(b, 3, kVarint);
  put_varint(b, static_cast<uint64_t>(v));
  return to_string(b);
}

void Resource::set(const std::string &key, std::string any_value_body) {
  for (auto &kv : attrs_)
    if (kv.first == key) {
      kv.second = std::move(any_value_body);
      return;
    }
  attrs_.emplace_back(key, std::move(any_value_body));
}

void Resource::build(const Settings &s, const CodeConfig *code) {
  attrs_.clear();
  std::string exe = executable_name();
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0 && host[0]) set("host.name", any_string(host));
  set("process.executable.name", any_string(exe));
  // Precedence, lowest first: OTEL_RESOURCE_ATTRIBUTES, attributes from code, OTEL_SERVICE_NAME.
  for (const auto &kv : s.resource_attributes) set(kv.first, any_string(kv.second));
  if (code)
    for (const auto &kv : code->resource_attrs) set(kv.first, kv.second);
  service_name_.clear();
  if (!s.service_name.empty()) {
    set("service.name", any_string(s.service_name));
    service_name_ = s.service_name;
  } else {
    bool have = false;
    for (const auto &kv : attrs_) have |= kv.first == "service.name";
    if (!have) set("service.name", any_string("unknown_service:" + exe));
  }
  set("telemetry.sdk.name", any_string("otelbridge"));
  set("telemetry.sdk.language", any_string(code ? code->sdk_language : "cpp"));
  set("telemetry.sdk.version", any_string(OTEL_VERSION_STRING));
}

void Resource::encode(Buf &out, int pid) const {
  for (const auto &kv : attrs_) {
    size_t m = msg_begin(out, 1);
    put_string(out, 1, otel_str{kv.first.data(), kv.first.size()});
    put_bytes(out, 2, kv.second.data(), kv.second.size());
    msg_end(out, m);
  }
  size_t m = msg_begin(out, 1);
  put_string(out, 1, otel_cstr("process.pid"));
  std::string pidv = any_int(pid);
  put_bytes(out, 2, pidv.data(), pidv.size());
  msg_end(out, m);
}

}  // namespace otb
