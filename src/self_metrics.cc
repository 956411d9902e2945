#include "self_metrics.h"

#include <memory>
#include <string>
#include <vector>

#include "engine.h"

namespace otb {
namespace {

enum What { kQueueSize, kQueueCapacity, kProcessed, kExported, kInflight };

struct Observed {
  Engine *engine;
  int32_t signal;
  What what;
  std::string processor, exporter;  // otel.component.type values
};

void observe(otel_observer *o, void *user) {
  const Observed &ob = *static_cast<Observed *>(user);
  uint64_t st[OTEL_STAT_COUNT];
  ob.engine->stats(ob.signal, st, OTEL_STAT_COUNT);
  const bool exporter_side = ob.what == kExported || ob.what == kInflight;
  const std::string &type = exporter_side ? ob.exporter : ob.processor;
  std::string name = type + "/0";
  auto report = [&](uint64_t v, const char *error_type) {
    otel_attr a[3] = {
        {otel_cstr("otel.component.type"), otel_value_str(otel_str{type.data(), type.size()})},
        {otel_cstr("otel.component.name"), otel_value_str(otel_str{name.data(), name.size()})},
        {otel_cstr("error.type"), otel_value_str(otel_cstr(error_type ? error_type : ""))}};
    otel_observe_i64(o, static_cast<int64_t>(v), a, error_type ? 3 : 2);
  };
  switch (ob.what) {
    case kQueueSize:
      report(st[OTEL_STAT_QUEUED], nullptr);
      break;
    case kQueueCapacity:
      report(st[OTEL_STAT_QUEUE_CAPACITY], nullptr);
      break;
    case kProcessed:  // records the processor took in, and those it dropped, by cause
      report(st[OTEL_STAT_ACCEPTED], nullptr);
      if (st[OTEL_STAT_DROPPED_QUEUE_FULL] + st[OTEL_STAT_DROPPED_OLDEST])
        report(st[OTEL_STAT_DROPPED_QUEUE_FULL] + st[OTEL_STAT_DROPPED_OLDEST], "queue_full");
      if (st[OTEL_STAT_DROPPED_TOO_LARGE]) report(st[OTEL_STAT_DROPPED_TOO_LARGE], "too_large");
      if (st[OTEL_STAT_DROPPED_SHUTDOWN]) report(st[OTEL_STAT_DROPPED_SHUTDOWN], "shutdown");
      break;
    case kExported:  // what the exporter delivered, failed to deliver, or saw rejected
      report(st[OTEL_STAT_EXPORTED], nullptr);
      if (st[OTEL_STAT_FAILED]) report(st[OTEL_STAT_FAILED], "export_failed");
      if (st[OTEL_STAT_REJECTED]) report(st[OTEL_STAT_REJECTED], "rejected");
      break;
    case kInflight:
      report(st[OTEL_STAT_IN_FLIGHT], nullptr);
      break;
  }
}

std::string exporter_type(const Settings &s, const std::string &exporter, const char *signal) {
  std::string kind = exporter;
  if (exporter == "otlp") {
    std::string proto = s.values.count("OTEL_EXPORTER_OTLP_PROTOCOL")
                            ? s.values.at("OTEL_EXPORTER_OTLP_PROTOCOL")
                            : "";
    kind = proto == "grpc" ? "otlp_grpc" : proto == "http/json" ? "otlp_http_json" : "otlp_http";
  }
  return kind + "_" + signal + "_exporter";
}

// Instruments and their state live as long as the process: engines are rarely freed, and an
// observable callback must never see freed user data.
std::vector<std::unique_ptr<Observed>> &all_observed() {
  static auto *v = new std::vector<std::unique_ptr<Observed>>;
  return *v;
}

}  // namespace

void register_self_metrics(Engine *e) {
  const Settings &s = e->settings();
  if (!s.self_metrics || !e->meters()) return;
  otel_scope *scope = nullptr;
  if (otel_scope_get(reinterpret_cast<otel_engine *>(e), otel_cstr("otelbridge"),
                     otel_cstr(OTEL_VERSION_STRING), otel_cstr(""), nullptr, 0, &scope) != OTEL_OK)
    return;
  struct Signal_ {
    int32_t signal;
    const char *name, *unit, *processor;
    const PipelineSettings *ps;
  } signals[] = {{OTEL_SIGNAL_LOGS, "log", "{log_record}", "batching_log_processor", &s.logs},
                 {OTEL_SIGNAL_TRACES, "span", "{span}", "batching_span_processor", &s.traces}};
  for (const auto &sig : signals) {
    if (sig.ps->exporter == "none") continue;
    struct {
      What what;
      const char *name;
      int32_t kind;
      const char *description;
    } metrics[] = {
        {kQueueSize, "otel.sdk.processor.%s.queue.size", OTEL_INSTRUMENT_OBSERVABLE_UP_DOWN_COUNTER,
         "Records in the processor's queue"},
        {kQueueCapacity, "otel.sdk.processor.%s.queue.capacity",
         OTEL_INSTRUMENT_OBSERVABLE_UP_DOWN_COUNTER, "The processor's queue capacity"},
        {kProcessed, "otel.sdk.processor.%s.processed", OTEL_INSTRUMENT_OBSERVABLE_COUNTER,
         "Records the processor handled (error.type set when dropped)"},
        {kExported, "otel.sdk.exporter.%s.exported", OTEL_INSTRUMENT_OBSERVABLE_COUNTER,
         "Records the exporter handled (error.type set when not delivered)"},
        {kInflight, "otel.sdk.exporter.%s.inflight", OTEL_INSTRUMENT_OBSERVABLE_UP_DOWN_COUNTER,
         "Records being exported now"},
    };
    for (const auto &m : metrics) {
      char name[96];
      snprintf(name, sizeof name, m.name, sig.name);
      auto ob = std::make_unique<Observed>();
      ob->engine = e;
      ob->signal = sig.signal;
      ob->what = m.what;
      ob->processor = sig.processor;
      ob->exporter = exporter_type(s, sig.ps->exporter, sig.name);
      otel_instrument *inst = nullptr;
      if (otel_instrument_create(scope, m.kind, OTEL_NUMBER_INT, otel_cstr(name),
                                 otel_cstr(sig.unit), otel_cstr(m.description), nullptr, 0,
                                 &observe, ob.get(), &inst) == OTEL_OK)
        all_observed().push_back(std::move(ob));
    }
  }
}

}  // namespace otb
