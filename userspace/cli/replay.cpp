// tokentap replay: the engine over a raw capture file, no kernel.
#include <cstdio>

#include "cli/commands.h"
#include "cli/output.h"
#include "engine/engine.h"

namespace tt::cli {

int run_replay(const std::string& file, const OutputOptions& opts) {
  Outputs outputs;
  if (auto r = outputs.open(opts); !r) {
    fprintf(stderr, "tokentap: %s\n", r.error().c_str());
    return 2;
  }
  auto eng = engine::Engine::create(engine_options(opts, {}), outputs.sink(), "");
  if (!eng) {
    fprintf(stderr, "tokentap: %s\n", eng.error().c_str());
    return 2;
  }
  engine::Engine& engine = **eng;
  engine::FileSource src(file, [&engine](const void* d, size_t n) { engine.on_record(d, n); });
  while (src.transfer(0) >= 0) {
  }
  if (!src.error().empty()) fprintf(stderr, "tokentap: %s\n", src.error().c_str());
  const auto& facts = engine.pipeline().run_facts();
  engine.finish(facts.have_end ? facts.end_mono_ns : src.last_ts_ns(), facts.exit_code);
  if (engine.pipeline().malformed_records())
    fprintf(stderr, "tokentap: %llu malformed record(s) skipped\n",
            static_cast<unsigned long long>(engine.pipeline().malformed_records()));
  bool ok = outputs.finish(engine.aggregator());
  return src.error().empty() && ok ? 0 : 1;
}

}  // namespace tt::cli
