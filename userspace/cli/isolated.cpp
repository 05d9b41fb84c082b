// Parsing in a confined process: the glue between the engine and
// isolate::ParserProcess that the daemon (and replay --isolate) share.
#include <time.h>

#include <cstdio>

#include "cli/output.h"
#include "engine/procfs.h"
#include "isolate/parser_process.h"

namespace tt::cli {

void send_answers_to_parent(engine::EngineOptions& eopts, std::shared_ptr<int> back_fd) {
  eopts.pipeline.mute_connection = [back_fd](uint32_t pid, uint64_t conn) {
    isolate::send_request(*back_fd, isolate::mute_request(pid, conn));
  };
  eopts.pipeline.watch_socket = [back_fd](uint64_t sk, uint64_t ts, bool watch) {
    isolate::send_request(*back_fd, isolate::watch_request(sk, ts, watch));
  };
}

// Rotated output files from the parent: taken between two records.
void take_files(int back_fd, Outputs& outputs) {
  auto got = isolate::receive_file(back_fd);
  if (!got) return;
  if (auto r = outputs.switch_file(got->slot, got->fd); !r) fprintf(stderr, "tokentap: parser: %s\n", r.error().c_str());
}

int parse_records(int data_fd, int back_fd, engine::Engine& engine, Outputs& outputs, int tick_ms,
                  metrics::Server* server, top::Server* top) {
  std::string error;
  // The back-channel first; each server picks its own fds out of what poll() reported.
  int files_fd = back_fd;  // -1 once the parent's end is gone (poll would report it at once, again and again)
  isolate::ExtraFds serve{[server, top, &files_fd](std::vector<pollfd>& fds) {
                            fds.push_back({files_fd, POLLIN, 0});
                            if (server) server->add_pollfds(fds);
                            if (top) top->add_pollfds(fds);
                          },
                          [server, top, &outputs, &files_fd](const pollfd* fds, size_t n) {
                            if (fds[0].revents & POLLIN) take_files(files_fd, outputs);
                            if (fds[0].revents & (POLLHUP | POLLERR)) files_fd = -1;
                            uint64_t now = engine::now_ns(CLOCK_MONOTONIC);
                            if (server) server->on_ready(fds + 1, n - 1, now);
                            if (top) top->on_ready(fds + 1, n - 1, now);
                          }};
  auto end = isolate::read_frames(
      data_fd, tick_ms, [&engine](const void* d, size_t n) { engine.on_record(d, n); },
      [&engine, &outputs] {
        uint64_t now = engine::now_ns(CLOCK_MONOTONIC);
        engine.tick(now);
        outputs.tick(now / 1'000'000);
      }, error, &serve);
  if (!end) fprintf(stderr, "tokentap: parser: %s\n", error.c_str());
  bool ok = finish_run(engine, outputs, end.value_or(engine::now_ns(CLOCK_MONOTONIC)));
  return ok && end ? 0 : 1;
}

bool finish_run(engine::Engine& engine, Outputs& outputs, uint64_t fallback_end_ns) {
  // The STATS record, when one came, says when the run ended and how.
  const auto& facts = engine.pipeline().run_facts();
  engine.finish(facts.have_end ? facts.end_mono_ns : fallback_end_ns, facts.exit_code);
  if (uint64_t bad = engine.pipeline().malformed_records())
    fprintf(stderr, "tokentap: %llu malformed record(s) skipped\n", static_cast<unsigned long long>(bad));
  bool ok = outputs.finish(engine.aggregator());
  if (!engine.capture_ok()) fprintf(stderr, "tokentap: the capture file could not be written completely\n");
  return ok && engine.capture_ok();
}

std::vector<int> parser_output_fds(const Outputs& outputs, const engine::Engine& engine) {
  std::vector<int> fds = outputs.fds();
  if (engine.capture_fd() >= 0) fds.push_back(engine.capture_fd());
  return fds;
}

}  // namespace tt::cli
