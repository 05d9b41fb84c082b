// The collector's gRPC service: authenticates each stream, stores each batch
// in one transaction and acknowledges it only then (docs/collector.md).
// Batches from every stream are stored one at a time: SQLite has one writer,
// and one PostgreSQL connection serves them in order.
#pragma once
#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "collector/auth.h"
#include "store/store.h"
#include "tokentap/v1/collector.grpc.pb.h"

namespace tt::collector {

namespace v1 = ::tokentap::v1;

// Counted for /metrics and the log.
struct ServiceStats {
  std::atomic<uint64_t> batches{0}, stored{0}, duplicates{0}, rejected{0};
  std::atomic<uint64_t> refused_unauthenticated{0}, refused_invalid{0}, store_errors{0};
};

// The records a batch added (not those held already): metrics and OTLP count each once.
using StoredFn = std::function<void(const std::string& host, const std::vector<const v1::Record*>& fresh)>;

class CollectorService final : public v1::Collector::Service {
 public:
  CollectorService(store::Store& store, Tokens tokens, StoredFn on_stored, ServiceStats& stats)
      : store_(store), tokens_(std::move(tokens)), on_stored_(std::move(on_stored)), stats_(stats) {}
  grpc::Status Ship(grpc::ServerContext* ctx, grpc::ServerReaderWriter<v1::ShipAck, v1::ShipBatch>* stream) override;

  static constexpr int kMaxRecordsPerBatch = 10000;

 private:
  grpc::Status authorize(const grpc::ServerContext& ctx);
  grpc::Status store_batch(const v1::ShipBatch& batch, v1::ShipAck& ack);

  store::Store& store_;
  Tokens tokens_;
  StoredFn on_stored_;
  ServiceStats& stats_;
  std::mutex mu_;
};

}  // namespace tt::collector
