// otel_diagnose: the troubleshooting path users follow by hand, as one report.
#pragma once

#include <string>

#include "config.h"

namespace otb {
class Engine;
// Writes the report to *out. OTEL_OK when every check passed, OTEL_E_CHECK_FAILED otherwise.
int32_t diagnose(const CodeConfig *code, Engine *global, std::string *out);
}  // namespace otb
