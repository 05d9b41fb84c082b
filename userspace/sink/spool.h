// The daemon's durable spool (--spool DIR): records on disk, fsync'd in
// batches, before anything downstream may take them (docs/design.md, "The
// spool"). The directory holds segments NNNNNNNNNNNN.pb (the --out format,
// so `tokentap report` reads them) numbered upwards, the highest one being
// appended, and `ack`: "SEGMENT OFFSET RECORDS", rewritten after each fsync.
//
// Split by privilege: open_spool_dir and recover_spool run as root before
// the parser forks (they read framing only, never a record's contents);
// SpoolSink runs in the parser, which may only create, write, sync and
// delete files in that directory (isolate/sandbox.cpp).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sink/sink.h"

namespace tt::sink {

struct SpoolOptions {
  uint64_t max_bytes = 1024ull << 20;     // [spool] max_mb: the oldest closed segments go beyond it
  uint64_t segment_bytes = 64ull << 20;   // [spool] segment_mb: a segment is closed at this size
  uint64_t fsync_ms = 1000;               // [spool] fsync_ms: how long a record may wait for its fsync
};

struct SegmentInfo {
  uint64_t seq = 0;
  uint64_t bytes = 0;
  uint64_t records = 0;
};

// What a start found: the segments (oldest first), where to continue, and
// the torn tail cut from the last segment (a crash mid-write).
struct Recovery {
  std::vector<SegmentInfo> segments;
  uint64_t next_seq = 1;
  uint64_t repaired_bytes = 0;
};

std::string segment_name(uint64_t seq);  // "000000000042.pb"
// The segments in the directory, by number, ascending.
std::vector<uint64_t> list_segments(int dir_fd);
// The ack file's line: every segment below `segment`, and that segment's
// first `offset` bytes, are on disk. nullopt: none written yet, or unreadable.
struct DurableExtent {
  uint64_t segment = 0, offset = 0, records = 0;
};
std::optional<DurableExtent> read_ack(int dir_fd);

// Creates DIR if missing, opens it (O_DIRECTORY, no symlink), and gives it to
// owner with mode 0700 (when root): the parser writes it as that user.
Result<int> open_spool_dir(const std::string& dir, uid_t owner_uid, gid_t owner_gid);
// Counts every segment's records by their framing and truncates the last
// segment after its last whole record: a size prefix cut short, a record
// cut short, or a zero size (blocks allocated, never written: a power cut).
Result<Recovery> recover_spool(int dir_fd);
// The ack file, opened (created) by the parent: the parser cannot open it.
Result<int> open_ack_file(int dir_fd);

// Complete records of one segment's fd from offset 0: their count and the
// offset after the last one (fewer bytes than the file: a torn tail).
SegmentInfo scan_segment(int fd, uint64_t size);

class SpoolSink : public RecordSink {
 public:
  SpoolSink(int dir_fd, int ack_fd, Recovery rec, SpoolOptions opts);
  ~SpoolSink() override;
  void write(const v1::Record& rec) override;  // appended; on disk at the next sync
  // Syncs when the oldest unsynced record has waited fsync_ms.
  void tick(uint64_t now_ms);
  Result<void> sync();                  // fsync now, then the ack
  Result<void> close() override;        // sync, close the segment
  // Drops and the repaired tail go into these stats (the run summary's).
  void report_to(v1::CaptureStats* cs);
  uint64_t records_acked() const { return acked_records_; }
  int ack_fd() const { return ack_fd_; }
  int dir_fd() const { return dir_fd_; }

 private:
  bool open_segment();
  void rotate();
  void enforce_bound();
  void write_ack();
  void publish_stats();

  int dir_fd_, ack_fd_;
  SpoolOptions opts_;
  std::vector<SegmentInfo> closed_;  // oldest first; synced
  SegmentInfo active_;
  int fd_ = -1;
  uint64_t next_seq_, record_seq_ = 0;
  uint64_t written_records_ = 0, acked_records_ = 0, acked_bytes_ = 0;
  uint64_t first_unsynced_ms_ = 0;
  bool dir_dirty_ = false, ok_ = true;
  uint64_t dropped_records_ = 0, dropped_bytes_ = 0, repaired_bytes_;
  v1::CaptureStats* stats_ = nullptr;
};

}  // namespace tt::sink
