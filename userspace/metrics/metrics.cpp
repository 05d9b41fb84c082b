#include "metrics/metrics.h"

#include <prometheus/text_serializer.h>

namespace tt::metrics {

namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Labels;

// The labels every per-request family carries, and each one's cap. This is
// the one place to add a label (e.g. user, project): a row here.
struct LabelSpec {
  const char* name;
  size_t max_values;
  const std::string& (*value)(const v1::ApiRequest&);
};
const LabelSpec kRequestLabels[] = {
    {"provider", 20, [](const v1::ApiRequest& r) -> const std::string& { return r.provider(); }},
    {"model", 100, [](const v1::ApiRequest& r) -> const std::string& { return r.model(); }},
    {"harness", 50, [](const v1::ApiRequest& r) -> const std::string& { return r.harness(); }},
    // Who and for which project (attribution): a shared machine's users, their repositories.
    {"user", 100, [](const v1::ApiRequest& r) -> const std::string& { return r.user(); }},
    {"project", 100, [](const v1::ApiRequest& r) -> const std::string& { return r.project(); }},
};

std::string status_class(uint32_t status) {
  if (status < 100 || status > 599) return "none";  // no response seen
  return std::to_string(status / 100) + "xx";
}

Family<Counter>& counter(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r);
}
Family<Gauge>& gauge(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}

}  // namespace

std::string LabelCap::operator()(const std::string& value) {
  if (seen_.count(value)) return value;
  if (seen_.size() >= max_) return "other";
  seen_.insert(value);
  return value;
}

struct Metrics::Families {
  explicit Families(prometheus::Registry& r)
      : tokens(counter(r, "tokentap_tokens_total", "LLM tokens, by type: input (uncached), cache_read, cache_write, output")),
        requests(counter(r, "tokentap_requests_total", "LLM API requests, by HTTP status class")),
        errors(counter(r, "tokentap_request_errors_total", "LLM API requests answered with status >= 400 or carrying an error")),
        estimated(counter(r, "tokentap_estimated_requests_total", "LLM API requests whose usage was estimated, not reported")),
        cost(counter(r, "tokentap_cost_usd_total",
                     "What LLM API requests cost in US dollars (provider-reported or from the price table; "
                     "subscription traffic at its API equivalent)")),
        unpriced(counter(r, "tokentap_unpriced_requests_total",
                         "LLM API requests of a model the price table does not know: not in tokentap_cost_usd_total")),
        capture(counter(r, "tokentap_capture_total", "Capture counters, by kind (events, bytes)")),
        losses(counter(r, "tokentap_capture_losses_total", "What the capture lost or could not decode, by kind")),
        limits(counter(r, "tokentap_limit_hits_total", "Times a bound on what traffic can make the parsers do was hit")),
        cpu(counter(r, "tokentap_process_cpu_seconds_total", "CPU time of the daemon's processes")),
        rss(gauge(r, "tokentap_process_resident_memory_bytes", "Resident memory of the daemon's processes")),
        ring(gauge(r, "tokentap_ring_buffer_size_bytes", "Size of the BPF ring buffer")),
        ring_used(gauge(r, "tokentap_ring_buffer_used_bytes",
                        "Bytes in the BPF ring buffer not read yet (at the last health sample)")) {}
  Family<Counter>&tokens, &requests, &errors, &estimated, &cost, &unpriced, &capture, &losses, &limits, &cpu;
  Family<Gauge>&rss, &ring, &ring_used;
};

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()), f_(std::make_unique<Families>(*registry_)) {
  for (const auto& l : kRequestLabels) caps_.emplace(l.name, LabelCap(l.max_values));
}

Metrics::~Metrics() = default;

prometheus::Labels Metrics::request_labels(const v1::ApiRequest& r) {
  Labels out;
  for (const auto& l : kRequestLabels) {
    const std::string& v = l.value(r);
    out[l.name] = caps_.at(l.name)(v.empty() ? "unknown" : v);
  }
  return out;
}

void Metrics::write(const v1::Record& rec) {
  if (rec.has_request()) count_request(rec.request());
}

void Metrics::count_request(const v1::ApiRequest& r) {
  Labels l = request_labels(r);
  const std::pair<const char*, uint64_t> tokens[] = {{"input", r.input_tokens()},
                                                     {"cache_read", r.cache_read_tokens()},
                                                     {"cache_write", r.cache_write_tokens()},
                                                     {"output", r.output_tokens()}};
  for (auto [type, n] : tokens) {
    Labels t = l;
    t["type"] = type;
    f_->tokens.Add(t).Increment(double(n));
  }
  f_->errors.Add(l).Increment(r.status() >= 400 || !r.error().empty() ? 1 : 0);
  f_->estimated.Add(l).Increment(r.usage_source() == "estimated" ? 1 : 0);
  f_->cost.Add(l).Increment(r.cost_usd() > 0 ? r.cost_usd() : 0);
  f_->unpriced.Add(l).Increment(r.cost_source() == "unknown_model" ? 1 : 0);
  l["status_class"] = status_class(r.status());
  f_->requests.Add(l).Increment();
}

// The pipeline counts in absolute values; a Prometheus counter only goes up.
void Metrics::set_counter(Family<Counter>& f, const Labels& l, double value) {
  Counter& c = f.Add(l);
  if (value > c.Value()) c.Increment(value - c.Value());
}

void Metrics::set_capture_stats(const v1::CaptureStats& cs) {
  set_counter(f_->capture, {{"kind", "events"}}, double(cs.events()));
  set_counter(f_->capture, {{"kind", "bytes"}}, double(cs.bytes_captured()));
  const std::pair<const char*, uint64_t> losses[] = {{"events_lost", cs.events_lost()},
                                                     {"bytes_lost", cs.bytes_lost()},
                                                     {"bytes_unparsed", cs.bytes_unparsed()},
                                                     {"parse_errors", cs.parse_errors()},
                                                     {"decode_errors", cs.decode_errors()},
                                                     {"incomplete_requests", cs.incomplete_requests()}};
  for (auto [kind, n] : losses) set_counter(f_->losses, {{"kind", kind}}, double(n));
  const std::pair<const char*, uint64_t> limits[] = {{"decode", cs.decode_limit_hits()},
                                                     {"hpack", cs.hpack_limit_hits()},
                                                     {"connection", cs.connection_limit_hits()},
                                                     {"session", cs.session_limit_hits()},
                                                     {"header", cs.header_limit_hits()}};
  for (auto [limit, n] : limits) set_counter(f_->limits, {{"limit", limit}}, double(n));
}

void Metrics::set_health(const nlohmann::json& h) {
  if (!h.is_object()) return;
  if (auto p = h.find("processes"); p != h.end() && p->is_object())
    for (auto& [name, v] : p->items()) {
      if (!v.is_object()) continue;
      set_counter(f_->cpu, {{"process", name}}, v.value("cpu_seconds", 0.0));
      f_->rss.Add({{"process", name}}).Set(v.value("rss_bytes", 0.0));
    }
  if (h.contains("ring_buffer_bytes")) f_->ring.Add({}).Set(h.value("ring_buffer_bytes", 0.0));
  if (h.contains("ring_buffer_used_bytes")) f_->ring_used.Add({}).Set(h.value("ring_buffer_used_bytes", 0.0));
}

std::string Metrics::render() const { return prometheus::TextSerializer().Serialize(registry_->Collect()); }

}  // namespace tt::metrics
