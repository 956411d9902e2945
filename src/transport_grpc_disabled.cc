// Built when OTELBRIDGE_WITH_GRPC is OFF: the grpc protocol is refused with a clear message.
#include "otlp.h"

namespace otb {
std::unique_ptr<Transport> make_grpc_transport(const OtlpSignalConfig &, std::string *err) {
  *err =
      "this build of otelbridge has no gRPC transport (OTELBRIDGE_WITH_GRPC=OFF); "
      "use OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf";
  return nullptr;
}
}  // namespace otb
