#include "isolate/frames.h"

#include <algorithm>
#include <cstring>

namespace tt::isolate {

namespace {
constexpr size_t pad8(size_t n) { return (n + 7) & ~size_t{7}; }

size_t frame_size(size_t len) { return sizeof(FrameHeader) + pad8(len); }

void put_frame(char* at, FrameType type, const void* payload, size_t len) {
  FrameHeader h{static_cast<uint32_t>(len), static_cast<uint32_t>(type)};
  memcpy(at, &h, sizeof(h));
  if (len) memcpy(at + sizeof(h), payload, len);
  memset(at + sizeof(h) + len, 0, pad8(len) - len);
}

}  // namespace

bool FrameQueue::push(FrameType type, const void* payload, size_t len, bool grow) {
  size_t n = frame_size(len);
  if (tail_ + n > cap_ && head_ > 0) {  // compact: what waits moves to the front
    memmove(buf_.get(), buf_.get() + head_, tail_ - head_);
    tail_ -= head_;
    head_ = 0;
  }
  if (tail_ + n > cap_) {
    if (!grow && n <= cap_) return false;
    reserve(tail_ + n);
  }
  put_frame(buf_.get() + tail_, type, payload, len);
  tail_ += n;
  return true;
}

void FrameQueue::reserve(size_t need) {
  size_t cap = std::max(need, cap_ * 2);
  std::unique_ptr<char[]> bigger(new char[cap]);
  memcpy(bigger.get(), buf_.get() + head_, tail_ - head_);
  tail_ -= head_;
  head_ = 0;
  buf_ = std::move(bigger);
  cap_ = cap;
}

void FrameQueue::consume(size_t n) {
  head_ += n;
  if (head_ == tail_) head_ = tail_ = 0;
}

void FrameReader::compact() {
  if (begin_ == 0) return;
  memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
}

char* FrameReader::reserve(size_t want) {
  if (buf_.size() - end_ < want) {
    compact();
    if (buf_.size() - end_ < want) buf_.resize(end_ + want);
  }
  return buf_.data() + end_;
}

void FrameReader::feed(std::string_view bytes) {
  memcpy(reserve(bytes.size()), bytes.data(), bytes.size());
  commit(bytes.size());
}

bool FrameReader::next(Frame& frame) {
  if (!error_.empty() || end_ - begin_ < sizeof(FrameHeader)) return false;
  FrameHeader h;
  memcpy(&h, buf_.data() + begin_, sizeof(h));
  if (h.len > kMaxFramePayload) {
    error_ = "frame of " + std::to_string(h.len) + " bytes (at most " + std::to_string(kMaxFramePayload) + ")";
    return false;
  }
  bool finish = h.type == static_cast<uint32_t>(FrameType::Finish);
  if (h.type != static_cast<uint32_t>(FrameType::Record) && !(finish && h.len == sizeof(uint64_t))) {
    error_ = "unknown frame type " + std::to_string(h.type) + " of " + std::to_string(h.len) + " bytes";
    return false;
  }
  size_t total = sizeof(h) + pad8(h.len);
  if (end_ - begin_ < total) return false;
  frame = {static_cast<FrameType>(h.type), buf_.data() + begin_ + sizeof(h), h.len};
  begin_ += total;
  return true;
}

RequestMsg mute_request(uint32_t pid, uint64_t conn) {
  return {static_cast<uint32_t>(RequestType::Mute), pid, conn, 0, 0, 0};
}

RequestMsg watch_request(uint64_t sock, uint64_t head_ts_ns, bool watch) {
  return {static_cast<uint32_t>(RequestType::Watch), 0, sock, head_ts_ns, watch ? 1u : 0u, 0};
}

Result<Request> validate(const RequestMsg& m) {
  if (m.zero != 0) return make_error("request with a non-zero reserved field");
  if (m.type == static_cast<uint32_t>(RequestType::Mute)) {
    if (m.b != 0 || m.watch != 0) return make_error("mute request with fields it does not use");
    if (m.pid == 0) return make_error("mute request for pid 0");
    return Request{RequestType::Mute, m.pid, m.a, 0, false};
  }
  if (m.type == static_cast<uint32_t>(RequestType::Watch)) {
    if (m.pid != 0 || m.watch > 1) return make_error("watch request out of range");
    if (m.a == 0) return make_error("watch request for no socket");
    return Request{RequestType::Watch, 0, m.a, m.b, m.watch == 1};
  }
  return make_error("unknown request type " + std::to_string(m.type));
}

bool RequestReader::next(Request& r) {
  if (!error_.empty()) return false;
  if (buf_.size() - pos_ < sizeof(RequestMsg)) {  // keep only the incomplete tail
    buf_.erase(0, pos_);
    pos_ = 0;
    return false;
  }
  RequestMsg m;
  memcpy(&m, buf_.data() + pos_, sizeof(m));
  pos_ += sizeof(m);
  auto v = validate(m);
  if (!v) {
    error_ = v.error();
    return false;
  }
  r = *v;
  return true;
}

}  // namespace tt::isolate
