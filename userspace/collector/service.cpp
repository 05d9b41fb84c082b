#include "collector/service.h"

#include <cstdio>

namespace tt::collector {

grpc::Status CollectorService::authorize(const grpc::ServerContext& ctx) {
  if (tokens_.empty()) return grpc::Status::OK;  // client certificates only: TLS checked them
  const auto& md = ctx.client_metadata();
  auto it = md.find("authorization");
  if (it != md.end() && tokens_.accepts(std::string_view(it->second.data(), it->second.size())))
    return grpc::Status::OK;
  ++stats_.refused_unauthenticated;
  return {grpc::StatusCode::UNAUTHENTICATED, it == md.end() ? "no token" : "wrong token"};
}

grpc::Status CollectorService::store_batch(const v1::ShipBatch& batch, v1::ShipAck& ack) {
  std::vector<v1::Record> recs(batch.records().begin(), batch.records().end());
  std::vector<bool> fresh;
  std::lock_guard<std::mutex> lock(mu_);
  auto counts = store_.put(batch.host(), recs, &fresh);
  if (!counts) {
    ++stats_.store_errors;
    fprintf(stderr, "tokentap: collector: cannot store a batch from %s: %s\n", batch.host().c_str(),
            counts.error().c_str());
    return {grpc::StatusCode::UNAVAILABLE, "storage: " + counts.error()};  // the daemon keeps it and retries
  }
  ack.set_batch(batch.batch());
  ack.set_stored(static_cast<uint32_t>(counts->stored));
  ack.set_duplicates(static_cast<uint32_t>(counts->duplicates));
  ack.set_rejected(static_cast<uint32_t>(counts->rejected));
  ++stats_.batches;
  stats_.stored += counts->stored;
  stats_.duplicates += counts->duplicates;
  stats_.rejected += counts->rejected;
  std::vector<const v1::Record*> added;
  for (size_t i = 0; i < recs.size() && i < fresh.size(); ++i)
    if (fresh[i]) added.push_back(&recs[i]);
  if (on_stored_ && !added.empty()) on_stored_(batch.host(), added);
  return grpc::Status::OK;
}

grpc::Status CollectorService::Ship(grpc::ServerContext* ctx,
                                    grpc::ServerReaderWriter<v1::ShipAck, v1::ShipBatch>* stream) {
  if (grpc::Status st = authorize(*ctx); !st.ok()) return st;
  uint64_t expected = 1;
  for (v1::ShipBatch batch; stream->Read(&batch); ++expected) {
    if (batch.batch() != expected || batch.records_size() > kMaxRecordsPerBatch) {
      ++stats_.refused_invalid;
      return {grpc::StatusCode::INVALID_ARGUMENT,
              batch.batch() != expected ? "batch " + std::to_string(batch.batch()) + " out of order, expected " +
                                              std::to_string(expected)
                                        : "more than " + std::to_string(kMaxRecordsPerBatch) + " records in a batch"};
    }
    v1::ShipAck ack;
    if (grpc::Status st = store_batch(batch, ack); !st.ok()) return st;
    if (!stream->Write(ack)) break;  // the daemon is gone; what it did not see acked it sends again
  }
  return grpc::Status::OK;
}

}  // namespace tt::collector
