// WebSocket (RFC 6455) with permessage-deflate (RFC 7692), for the connections an
// HTTP/1.1 Upgrade hands over (see Http1Session). A WsFrameParser reads one
// direction: frames (masked or not; 7/16/64-bit lengths), fragmented messages
// reassembled across continuation frames (control frames may sit between the
// fragments) and compressed messages (RSV1) inflated with the sliding window kept
// across messages unless the handshake negotiated no context takeover.
// WebSocketSession runs one parser per direction and hands the messages, in
// capture order, to a WsMessageHandler (ws_responses.h maps OpenAI Responses).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tt::protocol {

enum WsOpcode : uint8_t {
  kWsContinuation = 0x0,
  kWsText = 0x1,
  kWsBinary = 0x2,
  kWsClose = 0x8,
  kWsPing = 0x9,
  kWsPong = 0xA,
};

// permessage-deflate as the server's 101 response accepted it (Sec-WebSocket-Extensions).
// server_* parameters describe what the server sends, client_* what the client sends.
struct WsDeflate {
  bool enabled = false;
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  int server_max_window_bits = 15;
  int client_max_window_bits = 15;
};

// Reads the first permessage-deflate offer in a Sec-WebSocket-Extensions value
// ("permessage-deflate; client_max_window_bits=12, x-other"). Unknown or malformed
// parameters are ignored; window bits outside 8..15 mean 15.
WsDeflate parse_ws_extensions(std::string_view header_value);

// One message (text/binary, possibly reassembled from fragments) or one control frame.
struct WsMessage {
  bool from_client = false;  // set by WebSocketSession
  uint8_t opcode = 0;        // kWsText, kWsBinary, or a control opcode
  std::string payload;       // uncompressed, at most max_message bytes
  uint64_t size = 0;         // uncompressed payload bytes, all of them (even past the cap)
  uint64_t wire_bytes = 0;   // payload bytes as framed (compressed, if it was), gaps included
  uint64_t frame_header_bytes = 0;
  uint32_t frames = 0;       // data frames (control frames in between not counted)
  bool compressed = false;   // RSV1 on the first frame
  bool truncated = false;    // size > payload.size(): the cap was hit
  bool complete = false;     // the FIN frame arrived and every byte decoded
  std::string error;         // why it is incomplete
  uint64_t first_ts_ns = 0;  // first byte of its first frame
  uint64_t last_ts_ns = 0;   // last byte of its last frame
};

class WsFrameParser {
 public:
  struct Options {
    bool deflate = false;              // permessage-deflate negotiated (RSV1 allowed)
    bool no_context_takeover = false;  // the sender resets its compressor per message
    int window_bits = 15;              // the sender's negotiated max window bits
    size_t max_message = 64u << 20;    // payload bytes kept per message; the rest is counted
  };
  explicit WsFrameParser(Options opts);
  ~WsFrameParser();
  WsFrameParser(const WsFrameParser&) = delete;
  WsFrameParser& operator=(const WsFrameParser&) = delete;

  // Every message or control frame that ends is appended to out. Input may be split
  // anywhere. A protocol violation (reserved opcode or bits, a fragmented or long
  // control frame, a continuation with nothing to continue...) emits the message in
  // progress as incomplete, counts an error, and the rest of this direction is
  // skipped: frame boundaries cannot be found again.
  void feed(std::string_view data, uint64_t ts_ns, std::vector<WsMessage>& out);
  // n bytes lost by the capture. Inside a frame's payload the framing survives (the
  // message is incomplete; with context takeover so is inflating every later
  // compressed message); anywhere else the direction is lost, as for an error.
  void gap(uint64_t n, std::vector<WsMessage>& out);
  // The connection ended: a message in progress is emitted incomplete.
  void finish(uint64_t ts_ns, std::vector<WsMessage>& out);

  uint64_t bytes_skipped() const;   // not parsed (after an error or a lost boundary)
  uint64_t errors() const;          // protocol errors and inflate failures
  uint64_t bytes_dropped() const;   // uncompressed payload bytes beyond max_message
  uint64_t resumes() const;         // gaps skipped inside a payload, framing kept
  uint64_t decode_limit_hits() const;  // messages not inflated: the decompression budget was spent
  bool lost() const;                // frame boundaries lost for good
  bool in_message() const;          // a data message has begun and not ended

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What a WebSocket connection's messages mean (ws_responses.h: OpenAI Responses).
class WsMessageHandler {
 public:
  virtual ~WsMessageHandler() = default;
  virtual void on_message(WsMessage&& m) = 0;
  // The connection ended (close, process exit, end of capture).
  virtual void on_end(uint64_t ts_ns) = 0;
};

// Both directions of one WebSocket connection, after the 101 response.
class WebSocketSession {
 public:
  // client_dir: the tt_direction the client's frames travel in. handler may be null:
  // the messages are parsed (and counted) but go nowhere.
  WebSocketSession(const WsDeflate& deflate, int client_dir, size_t max_message,
                   std::unique_ptr<WsMessageHandler> handler);
  ~WebSocketSession();

  void on_bytes(int dir, std::string_view data, uint64_t ts_ns);
  void on_gap(int dir, uint64_t bytes, uint64_t ts_ns);
  void on_close(uint64_t ts_ns);

  uint64_t bytes_unparsed() const;
  uint64_t parse_errors() const;
  uint64_t gap_resyncs() const;
  uint64_t decode_limit_hits() const;
  uint64_t messages() const { return messages_; }

 private:
  void deliver(int dir, std::vector<WsMessage>& msgs);
  void hand(WsMessage&& m);

  int client_dir_;
  std::unique_ptr<WsFrameParser> parser_[2];  // by tt_direction
  std::unique_ptr<WsMessageHandler> handler_;
  uint64_t messages_ = 0;
  // Server messages that ended while a client message was still arriving: they
  // wait for it, since they may answer it (its lost tail is only reported with
  // the client's next write, after the answer was read).
  std::vector<WsMessage> waiting_;
  bool closed_ = false;
};

}  // namespace tt::protocol
