// The resource every batch is sent with. Built once per engine from the environment and code;
// process.pid is written at encode time so a forked child reports its own pid.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common.h"
#include "config.h"

namespace otb {

class Resource {
 public:
  void build(const Settings &s, const CodeConfig *code);
  // Writes the fields of an opentelemetry.proto.resource.v1.Resource message.
  void encode(Buf &out, int pid) const;
  const std::string &service_name() const { return service_name_; }

 private:
  void set(const std::string &key, std::string any_value_body);
  std::vector<std::pair<std::string, std::string>> attrs_;  // key, AnyValue message body
  std::string service_name_;
};

// Encodes an AnyValue message body holding a string / an int.
std::string any_string(const std::string &s);
std::string any_int(int64_t v);

}  // namespace otb
