// The one place where tokentap's records meet the OpenTelemetry GenAI semantic
// conventions (docs/otlp.md): which attribute carries which field, on spans and
// on metrics, and the metrics' names, units and bucket boundaries. A change of
// the conventions is a change here.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "metrics/metrics.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "otlp/attributes.h"
#include "tokentap/v1/records.pb.h"

namespace tt::otlp {

namespace v1 = ::tokentap::v1;
namespace trace = ::opentelemetry::proto::trace::v1;

// The semantic conventions release followed: every export names it.
inline constexpr const char* kSchemaUrl = "https://opentelemetry.io/schemas/1.41.0";

struct HistogramDef {
  std::string name, unit, description;
  std::vector<double> bounds;  // explicit bucket boundaries, ascending
};
extern const HistogramDef kTokenUsage;          // gen_ai.client.token.usage
extern const HistogramDef kOperationDuration;   // gen_ai.client.operation.duration

struct Measurement {
  const HistogramDef* metric;
  Attrs attrs;
  double value;
};

// gen_ai.usage.input_tokens: the whole prompt. tokentap's input_tokens are the
// uncached part only (records.proto), the convention counts cache reads and
// writes in.
uint64_t semconv_input_tokens(const v1::ApiRequest& r);

class GenAiMapper {
 public:
  GenAiMapper();
  // What one request adds to the metrics: its input and output tokens (billable
  // requests only) and its duration (when a response was seen). Metric
  // attribute values are capped per key, as the Prometheus labels are.
  std::vector<Measurement> measurements(const v1::ApiRequest& r);
  // Its span: ids derived from the record's identity, times, attributes, status.
  static void fill_span(const v1::ApiRequest& r, trace::Span* span);

 private:
  std::map<std::string, metrics::LabelCap> caps_;
};

}  // namespace tt::otlp
