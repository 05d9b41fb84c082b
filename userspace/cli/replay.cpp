// tokentap replay: the userspace pipeline over a raw capture file, no kernel.
#include <cstdio>

#include "capture/file/capture_file.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "pipeline/pipeline.h"

namespace tt::cli {

int run_replay(const std::string& file, const OutputOptions& opts) {
  Outputs outputs;
  if (auto r = outputs.open(opts); !r) {
    fprintf(stderr, "tokentap: %s\n", r.error().c_str());
    return 2;
  }
  aggregate::Aggregator agg("", outputs.sink());
  pipeline::PipelineOptions popts;
  popts.max_body_bytes = opts.max_body_bytes;
  pipeline::Pipeline pipe(popts, agg);
  uint64_t last_ts = 0;
  auto n = capture::read_capture(file, [&](const void* d, size_t n) {
    pipe.on_raw(d, n);
    if (n >= sizeof(tt_event_header)) last_ts = std::max<uint64_t>(last_ts, reinterpret_cast<const tt_event_header*>(d)->ts_ns);
  });
  if (!n) fprintf(stderr, "tokentap: %s\n", n.error().c_str());
  const auto& facts = pipe.run_facts();
  uint64_t end = facts.have_end ? facts.end_mono_ns : last_ts;
  pipe.finish(end);
  if (pipe.malformed_records())
    fprintf(stderr, "tokentap: %llu malformed record(s) skipped\n",
            static_cast<unsigned long long>(pipe.malformed_records()));
  agg.finish(facts.command, pipe.to_unix(facts.start_mono_ns), pipe.to_unix(end), facts.exit_code);
  bool ok = outputs.finish(agg);
  return n && ok ? 0 : 1;
}

}  // namespace tt::cli
