// tokentap replay: the engine over a raw capture file, no kernel.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/output.h"
#include "engine/engine.h"
#include "isolate/parser_process.h"

namespace tt::cli {

namespace {

// The parser in a confined process; this one only reads the file.
int replay_isolated(const std::string& file, engine::Engine& engine, Outputs& outputs) {
  isolate::ParserProcess parser;
  engine::FileSource src(file, [&parser](const void* d, size_t n) { parser.send(d, n); });
  auto main = [&](int data_fd, int back_fd) { return parse_records(data_fd, back_fd, engine, outputs, 1000); };
  if (auto r = parser.start(main, parser_output_fds(outputs, engine), isolate::unprivileged_identity(), {}); !r) {
    fprintf(stderr, "tokentap: %s\n", r.error().c_str());
    return 2;
  }
  while (src.transfer(0) >= 0 && parser.pump()) {
  }
  int rc = parser.finish(src.last_ts_ns());
  if (rc < 0) fprintf(stderr, "tokentap: %s\n", parser.error().c_str());
  if (!src.error().empty()) fprintf(stderr, "tokentap: %s\n", src.error().c_str());
  return rc == 0 && src.error().empty() ? 0 : 1;
}

}  // namespace

int run_replay(const std::string& file, const OutputOptions& opts, bool isolate) {
  if (isolate && !opts.otlp_endpoint.empty()) {
    fprintf(stderr, "tokentap: --otlp-endpoint cannot be used with --isolate: the confined parser has no network\n");
    return 2;
  }
  Outputs outputs;
  if (auto r = outputs.open(opts); !r) {
    fprintf(stderr, "tokentap: %s\n", r.error().c_str());
    return 2;
  }
  auto eopts = engine_options(opts, {});
  if (!eopts) {
    fprintf(stderr, "tokentap: %s\n", eopts.error().c_str());
    return 2;
  }
  outputs.set_analysis(eopts->pipeline.prices);
  auto eng = engine::Engine::create(std::move(*eopts), outputs.sink(), "");
  if (!eng) {
    fprintf(stderr, "tokentap: %s\n", eng.error().c_str());
    return 2;
  }
  engine::Engine& engine = **eng;
  if (isolate) return replay_isolated(file, engine, outputs);
  engine::FileSource src(file, [&engine](const void* d, size_t n) { engine.on_record(d, n); });
  while (src.transfer(0) >= 0) {
  }
  if (!src.error().empty()) fprintf(stderr, "tokentap: %s\n", src.error().c_str());
  bool ok = finish_run(engine, outputs, src.last_ts_ns());
  return src.error().empty() && ok ? 0 : 1;
}

}  // namespace tt::cli
