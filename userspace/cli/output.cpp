#include "cli/output.h"

#include <cstdio>
#include <fstream>
#include <random>

#include "sink/report.h"

namespace tt::cli {

Result<void> Outputs::open(const OutputOptions& opts) {
  opts_ = opts;
  if (!opts.out.empty()) {
    auto s = sink::DelimitedProtoSink::open(opts.out);
    if (!s) return Error{s.error()};
    proto_ = std::move(*s);
    multi_.add(proto_.get());
  }
  if (!opts.json.empty()) {
    auto s = sink::JsonLinesSink::open(opts.json);
    if (!s) return Error{s.error()};
    json_ = std::move(*s);
    multi_.add(json_.get());
  }
  return {};
}

bool Outputs::finish(const aggregate::Aggregator& agg) {
  bool ok = true;
  for (sink::RecordSink* s : {static_cast<sink::RecordSink*>(proto_.get()), static_cast<sink::RecordSink*>(json_.get())}) {
    if (!s) continue;
    auto r = s->close();
    if (!r) {
      fprintf(stderr, "tokentap: %s\n", r.error().c_str());
      ok = false;
    }
  }
  if (opts_.quiet) return ok;
  std::string text = sink::render_report(agg);
  if (opts_.report.empty()) {
    fprintf(stderr, "\n%s", text.c_str());
  } else {
    std::ofstream f(opts_.report);
    f << text;
    if (!f) {
      fprintf(stderr, "tokentap: cannot write report to %s\n", opts_.report.c_str());
      ok = false;
    }
  }
  return ok;
}

std::string new_run_id() {
  std::random_device rd;
  uint64_t v = (uint64_t{rd()} << 32) ^ rd();
  char buf[17];
  snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace tt::cli
