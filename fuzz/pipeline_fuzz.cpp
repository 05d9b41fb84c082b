// Capture records, as a capture file holds them, through the whole pipeline:
// stream reassembly, HTTP/1.x, HTTP/2, WebSocket, content decoding, providers,
// aggregation and both record encodings. Input: optional capture-file magic,
// then [u32 LE length][record] repeated (a .ttcap file is a valid input).
#include <algorithm>
#include <cstring>
#include <memory>
#include <string_view>

#include "aggregate/aggregator.h"
#include "fuzz_input.h"
#include "pipeline/pipeline.h"
#include "sink/report.h"
#include "sink/sink.h"

namespace {

// Every record encoded the way the sinks would write it.
struct EncodeSink : tt::sink::RecordSink {
  void write(const tt::sink::v1::Record& rec) override {
    tt::fuzz::touch(tt::sink::record_to_json(rec));
    tt::fuzz::touch(rec.SerializeAsString());
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  static constexpr std::string_view kMagic = "TOKENTAP-CAP-v1\n";
  if (all.starts_with(kMagic)) all.remove_prefix(kMagic.size());
  tt::fuzz::Reader in(reinterpret_cast<const uint8_t*>(all.data()), all.size());

  tt::pipeline::PipelineOptions opts;
  opts.report_server_side = true;  // server-side captures make records too
  opts.max_body_bytes = 1u << 20;
  // Odd sizes: request bodies are digested as they end instead of held whole.
  opts.held_request_bytes = size & 1 ? 0 : 4u << 20;
  EncodeSink sink;
  tt::aggregate::Aggregator agg("fuzz", &sink);
  tt::pipeline::Pipeline pipe(opts, agg);
  uint64_t last_ts = 0;
  while (!in.empty()) {
    std::string_view rec = in.take(in.u32());
    // An exact-size heap copy, aligned as the capture reader delivers records:
    // ASan sees a read past the record's end.
    auto buf = std::make_unique<char[]>(rec.size());
    std::copy(rec.begin(), rec.end(), buf.get());
    pipe.on_raw(buf.get(), rec.size());
    uint64_t ts = 0;  // tt_event_header.ts_ns
    if (rec.size() >= 24) memcpy(&ts, buf.get() + 16, sizeof(ts));
    last_ts = std::max(last_ts, ts);
  }
  pipe.finish(last_ts + 1);
  const auto& f = pipe.run_facts();
  agg.finish(f.command, pipe.to_unix(f.start_mono_ns), pipe.to_unix(last_ts + 1), f.exit_code);
  tt::fuzz::touch(tt::sink::render_report(agg));
  return 0;
}
