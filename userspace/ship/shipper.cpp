#include "ship/shipper.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <thread>

#include "tokentap/v1/collector.grpc.pb.h"

namespace tt::ship {

namespace v1 = ::tokentap::v1;
using Clock = std::chrono::steady_clock;

namespace {

std::shared_ptr<grpc::Channel> make_channel(const ShipperOptions& o) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = o.ca_pem;
  ssl.pem_private_key = o.key_pem;
  ssl.pem_cert_chain = o.cert_pem;
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);  // a dead link is noticed within ~30 s
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  args.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel(o.target, grpc::SslCredentials(ssl), args);
}

constexpr auto kMinBackoff = std::chrono::milliseconds(500), kMaxBackoff = std::chrono::milliseconds(30000);

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

const char* code_name(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::UNAVAILABLE: return "unavailable";
    case grpc::StatusCode::UNAUTHENTICATED: return "unauthenticated: check --token-file";
    case grpc::StatusCode::PERMISSION_DENIED: return "permission denied";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "resource exhausted";
    case grpc::StatusCode::CANCELLED: return "no answer, dropped";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "deadline exceeded";
    default: return "error";
  }
}

void sleep_unless(const std::atomic<bool>& stop, std::chrono::milliseconds d) {
  for (auto until = Clock::now() + d; !stop && Clock::now() < until;)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

}  // namespace

// One stream and its batches in flight.
struct Shipper::StreamState {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<v1::ShipBatch, v1::ShipAck>> rw;
  std::deque<std::pair<uint64_t, Cursor>> inflight;  // batch number, where it ends
  uint64_t next_batch = 1;
  Cursor next;  // where the next batch starts
  std::atomic<int64_t> last_progress_ms{0};
  std::atomic<size_t> inflight_count{0};
  uint64_t acks = 0;
};

Shipper::Shipper(ShipperOptions opts, int spool_dir_fd, std::vector<std::string> other_cursors)
    : opts_(std::move(opts)), reader_(spool_dir_fd, "shipped", std::move(other_cursors)) {
  acked_ = reader_.load();
}


// Sends what is new (up to the window), then takes one ack. false: the stream
// is over (broken, refused, or stopping with nothing in flight).
bool Shipper::ship_once(StreamState& s, const std::atomic<bool>& stop) {
  // After a stop too: what is durable goes out, for up to drain_s.
  while (s.inflight.size() < opts_.window) {
    auto b = reader_.next(s.next, opts_.batch_records, opts_.batch_bytes);
    if (!b) {
      fprintf(stderr, "tokentap: shipper: %s\n", b.error().c_str());
      break;
    }
    stats_.unreadable += b->unreadable;
    if (b->records.empty()) {
      s.next = b->end;  // past unreadable records or whole segments, or nothing new
      if (s.inflight.empty() && !(acked_ == s.next)) advance(s.next);
      break;
    }
    v1::ShipBatch msg;
    msg.set_batch(s.next_batch);
    msg.set_host(opts_.host);
    for (auto& r : b->records) msg.add_records()->Swap(&r);
    if (!s.rw->Write(msg)) return false;
    s.inflight.emplace_back(s.next_batch++, b->end);
    s.inflight_count = s.inflight.size();
    s.next = b->end;
    ++stats_.batches;
    stats_.records += msg.records_size();
  }
  if (s.inflight.empty()) {
    if (stop) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(opts_.poll_ms));
    s.last_progress_ms = now_ms();
    return true;
  }
  v1::ShipAck ack;
  if (!s.rw->Read(&ack)) return false;
  if (ack.batch() != s.inflight.front().first) {
    fprintf(stderr, "tokentap: shipper: the collector acknowledged batch %llu, expected %llu\n",
            static_cast<unsigned long long>(ack.batch()), static_cast<unsigned long long>(s.inflight.front().first));
    return false;
  }
  advance(s.inflight.front().second);
  s.inflight.pop_front();
  s.inflight_count = s.inflight.size();
  s.last_progress_ms = now_ms();
  ++s.acks;
  stats_.stored += ack.stored();
  stats_.duplicates += ack.duplicates();
  stats_.rejected += ack.rejected();
  return true;
}

void Shipper::advance(Cursor upto) {
  acked_ = upto;
  if (auto r = reader_.acknowledged(acked_); !r) fprintf(stderr, "tokentap: shipper: %s\n", r.error().c_str());
}

// Cancels a stream the collector stopped answering, or one still waiting for
// acks drain_s after the stop.
class Watchdog {
 public:
  Watchdog(Shipper::StreamState& s, const std::atomic<bool>& stop, int64_t ack_timeout_ms, int64_t drain_ms)
      : thread_([this, &s, &stop, ack_timeout_ms, drain_ms] {
          int64_t stop_ms = 0;
          while (!done_) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            int64_t now = now_ms();
            if (stop && !stop_ms) stop_ms = now;
            bool stalled = s.inflight_count && now - s.last_progress_ms > ack_timeout_ms;
            if (stalled || (stop_ms && now - stop_ms > drain_ms)) s.ctx.TryCancel();
          }
        }) {}
  ~Watchdog() {
    done_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

ShipStats Shipper::run(const std::atomic<bool>& stop, unsigned drain_s) {
  auto stub = v1::Collector::NewStub(make_channel(opts_));
  auto backoff = kMinBackoff;
  bool down = false;
  while (!stop) {
    StreamState s;
    if (!opts_.token.empty()) s.ctx.AddMetadata("authorization", "Bearer " + opts_.token);
    s.next = acked_;
    s.last_progress_ms = now_ms();
    grpc::Status st;
    {
      Watchdog wd(s, stop, int64_t(opts_.ack_timeout_s) * 1000, int64_t(drain_s) * 1000);
      s.rw = stub->Ship(&s.ctx);
      while (ship_once(s, stop)) {
        if (s.acks && down) fprintf(stderr, "tokentap: shipper: shipping to %s again\n", opts_.target.c_str());
        if (s.acks) down = false;
      }
      s.rw->WritesDone();
      st = s.rw->Finish();
    }
    if (s.acks) backoff = kMinBackoff;
    if (stop) break;
    ++stats_.reconnects;
    if (!down)  // once per outage
      fprintf(stderr, "tokentap: shipper: collector %s: %s (%s); records wait in the spool, retrying\n",
              opts_.target.c_str(), st.error_message().c_str(), code_name(st.error_code()));
    down = true;
    sleep_unless(stop, backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
  return stats_;
}

}  // namespace tt::ship
