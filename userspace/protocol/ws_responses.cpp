#include "protocol/ws_responses.h"

#include <strings.h>

#include <nlohmann/json.hpp>

namespace tt::protocol {
namespace {

using json = nlohmann::json;

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i)
    if (strncasecmp(hay.data() + i, needle.data(), needle.size()) == 0) return true;
  return false;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Stops at the first top-level "type" string: a response.create may be megabytes.
struct TypeScan : json::json_sax_t {
  int depth = 0;
  bool want = false;
  std::string type;

  bool value() {
    want = false;
    return true;
  }
  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool string(string_t& s) override {
    if (want && depth == 1) {
      type = s;
      return false;
    }
    return value();
  }
  bool start_object(std::size_t) override {
    want = false;
    return ++depth > 0;
  }
  bool key(string_t& k) override {
    want = depth == 1 && k == "type";
    return true;
  }
  bool end_object() override { return --depth > 0; }
  bool start_array(std::size_t) override {
    want = false;
    return depth++ > 0;  // a top-level array is not a message we know
  }
  bool end_array() override {
    --depth;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

bool is_terminal(std::string_view type) {
  return type == "response.completed" || type == "response.failed" || type == "response.incomplete" ||
         type == "error";
}

// An "error" event may carry the HTTP status the request would have had.
int error_status(std::string_view payload) {
  json j = json::parse(payload.begin(), payload.end(), nullptr, false);
  if (!j.is_object()) return 0;
  for (const char* k : {"status", "status_code"}) {
    auto it = j.find(k);
    if (it != j.end() && it->is_number_integer()) {
      int64_t s = it->get<int64_t>();
      if (s >= 400 && s <= 599) return static_cast<int>(s);
    }
  }
  return 0;
}

bool is_body_header(std::string_view name) {
  return iequals(name, "Content-Length") || iequals(name, "Content-Encoding") ||
         iequals(name, "Transfer-Encoding") || iequals(name, "Content-Type");
}

}  // namespace

std::string ws_message_type(std::string_view text) {
  TypeScan scan;
  json::sax_parse(text.begin(), text.end(), &scan, json::input_format_t::json, false);
  return scan.type;
}

bool is_websocket_upgrade(const HttpMessage& request) {
  const std::string* up = request.header("Upgrade");
  return up && icontains(*up, "websocket");
}

ResponsesWsMapper::ResponsesWsMapper(const HttpMessage& upgrade_request, const HttpMessage& upgrade_response,
                                     size_t max_body, WsExchangeFn emit)
    : max_body_(max_body), emit_(std::move(emit)) {
  HttpMessage& q = request_template_;
  q.is_request = true;
  q.method = "POST";
  q.target = upgrade_request.target;
  q.http_major = upgrade_request.http_major;
  q.http_minor = upgrade_request.http_minor;
  for (const auto& h : upgrade_request.headers)
    if (!is_body_header(h.name)) q.headers.push_back(h);
  q.headers.push_back({"Content-Type", "application/json"});

  HttpMessage& r = response_template_;
  r.is_request = false;
  r.status = 200;
  r.reason = "OK";
  r.http_major = upgrade_response.http_major;
  r.http_minor = upgrade_response.http_minor;
  for (const auto& h : upgrade_response.headers)
    if (!is_body_header(h.name)) r.headers.push_back(h);
  r.headers.push_back({"Content-Type", "text/event-stream"});
}

void ResponsesWsMapper::on_message(WsMessage&& m) {
  if (m.opcode != kWsText && m.opcode != kWsBinary) return;  // ping, pong, close
  if (m.from_client)
    client_message(std::move(m));
  else
    server_message(std::move(m));
}

void ResponsesWsMapper::client_message(WsMessage&& m) {
  // Only response.create starts a request; response.processed and the like are acks.
  if (ws_message_type(m.payload) != "response.create") return;
  Pending p;
  HttpMessage& q = p.request;
  q = request_template_;
  q.body = std::move(m.payload);
  q.body_wire_bytes = m.size;
  q.body_truncated = m.truncated;
  q.framing_bytes = m.frame_header_bytes;
  q.complete = m.complete;
  q.error = std::move(m.error);
  q.first_ts_ns = m.first_ts_ns;
  q.last_ts_ns = m.last_ts_ns;
  pending_.push_back(std::move(p));
}

void ResponsesWsMapper::server_message(WsMessage&& m) {
  std::string type = ws_message_type(m.payload);
  if (pending_.empty()) {
    // A response whose response.create was lost (capture gap) is still reported, as for
    // an HTTP response without its request; other notices (rate limits...) are not requests.
    if (!type.starts_with("response.")) return;
    Pending orphan;
    orphan.request = request_template_;
    orphan.request.error = "request not captured";
    pending_.push_back(std::move(orphan));
  }
  Pending& p = pending_.front();
  if (!p.response) {
    p.response = response_template_;
    p.response->first_ts_ns = m.first_ts_ns;
  }
  HttpMessage& r = *p.response;
  r.last_ts_ns = m.last_ts_ns;
  r.body_wire_bytes += m.size;
  r.framing_bytes += m.frame_header_bytes;
  // Whole events only: half an event is of no use to the SSE decoder.
  if (m.truncated || r.body.size() + m.payload.size() + 8 > max_body_) {
    r.body_truncated = true;
  } else {
    r.body.append("data: ").append(m.payload).append("\n\n");
  }
  if (!m.complete && r.error.empty()) r.error = m.error.empty() ? "websocket message incomplete" : m.error;
  if (!is_terminal(type)) return;
  if (type == "error")
    if (int s = error_status(m.payload)) r.status = s;
  r.complete = r.error.empty();
  emit_front();
}

void ResponsesWsMapper::emit_front() {
  Exchange ex;
  ex.request = std::move(pending_.front().request);
  ex.response = std::move(pending_.front().response);
  pending_.pop_front();
  emit_(std::move(ex));
}

void ResponsesWsMapper::on_end(uint64_t ts_ns) {
  while (!pending_.empty()) {
    if (auto& r = pending_.front().response) {
      r->complete = false;
      if (r->error.empty()) r->error = "connection closed";
    }
    emit_front();
  }
}

std::unique_ptr<WebSocketSession> start_websocket(const HttpMessage& upgrade_request,
                                                  const HttpMessage& upgrade_response, int client_dir,
                                                  size_t max_body, WsExchangeFn emit) {
  WsDeflate deflate;
  if (const std::string* ext = upgrade_response.header("Sec-WebSocket-Extensions"))
    deflate = parse_ws_extensions(*ext);
  std::string_view path = upgrade_request.target;
  path = path.substr(0, std::min(path.find_first_of("?#"), path.size()));
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  std::unique_ptr<WsMessageHandler> handler;
  if (path.ends_with("/responses"))
    handler = std::make_unique<ResponsesWsMapper>(upgrade_request, upgrade_response, max_body, std::move(emit));
  return std::make_unique<WebSocketSession>(deflate, client_dir, max_body, std::move(handler));
}

}  // namespace tt::protocol
