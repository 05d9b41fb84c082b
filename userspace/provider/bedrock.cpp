// AWS Bedrock runtime: InvokeModel(WithResponseStream) and Converse(Stream).
#include <array>

#include "protocol/eventstream.h"
#include "provider/decoders.h"

namespace tt::provider::detail {
namespace {

// RFC 4648 base64 (the event stream's chunk payloads); nullopt if malformed.
std::optional<std::string> base64_decode(std::string_view in) {
  static const std::array<int8_t, 256> kValue = [] {
    std::array<int8_t, 256> v{};
    v.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) v[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
    return v;
  }();
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    if (kValue[c] < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(kValue[c]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::string exception_text(const protocol::EventStreamMessage& m) {
  std::string text(m.exception_type.empty() ? "exception" : m.exception_type);
  Documents d;
  std::string message(m.error_message);
  if (message.empty() && add_document(m.payload, d)) message = get_string(d.docs[0], "message");
  return message.empty() ? text : text + ": " + message;
}

// Bedrock's own count of a call, on every model's last stream chunk.
std::optional<Usage> invocation_metrics(const json& doc) {
  std::optional<json> m = get_object(doc, "amazon-bedrock-invocationMetrics");
  if (!m) return std::nullopt;
  Usage u;
  u.input_tokens = get_count(*m, "inputTokenCount").value_or(0);
  u.output_tokens = get_count(*m, "outputTokenCount").value_or(0);
  u.cache_read_tokens = get_count(*m, "cacheReadInputTokenCount").value_or(0);
  u.cache_write_tokens = u.cache_write_5m_tokens = get_count(*m, "cacheWriteInputTokenCount").value_or(0);
  return u;
}

std::optional<uint64_t> header_count(const protocol::HttpMessage* m, const char* name) {
  const std::string* v = m ? m->header(name) : nullptr;
  if (!v || v->empty() || v->find_first_not_of("0123456789") != std::string::npos || v->size() > 19) return std::nullopt;
  return std::stoull(*v);
}

// InvokeModel's token-count headers (any model, stream or not).
std::optional<Usage> header_usage(const protocol::HttpMessage* m) {
  std::optional<uint64_t> in = header_count(m, "X-Amzn-Bedrock-Input-Token-Count");
  std::optional<uint64_t> out = header_count(m, "X-Amzn-Bedrock-Output-Token-Count");
  if (!in || !out) return std::nullopt;
  Usage u;
  u.input_tokens = *in;
  u.output_tokens = *out;
  u.cache_read_tokens = header_count(m, "X-Amzn-Bedrock-Cache-Read-Input-Token-Count").value_or(0);
  u.cache_write_tokens = u.cache_write_5m_tokens =
      header_count(m, "X-Amzn-Bedrock-Cache-Write-Input-Token-Count").value_or(0);
  return u;
}

Usage converse_usage(const json& u) {
  Usage out;
  out.input_tokens = get_count(u, "inputTokens").value_or(0);  // uncached, as Anthropic's
  out.output_tokens = get_count(u, "outputTokens").value_or(0);
  out.cache_read_tokens = get_count(u, "cacheReadInputTokens").value_or(0);
  out.cache_write_tokens = out.cache_write_5m_tokens = get_count(u, "cacheWriteInputTokens").value_or(0);
  return out;
}

}  // namespace

ResponseInfo decode_bedrock_invoke(std::string_view body, const protocol::HttpMessage* response, bool stream) {
  Documents docs;
  std::string error;
  if (!stream) {
    docs = parse_documents(body);
  } else {
    docs.format = BodyFormat::EventStream;
    protocol::EventStream es = protocol::parse_eventstream(body);
    error = es.error;
    for (const protocol::EventStreamMessage& m : es.messages) {
      if (m.message_type != "event") {
        error = exception_text(m);
        continue;
      }
      Documents chunk;
      if (m.event_type != "chunk" || !add_document(m.payload, chunk)) continue;
      std::optional<std::string> inner = base64_decode(get_string(chunk.docs[0], "bytes"));
      if (inner) add_document(*inner, docs);
    }
  }
  ResponseInfo r = decode_anthropic_messages(docs);
  if (!error.empty()) r.error = error;
  if (r.final_usage) return r;
  // Not an Anthropic model (or its events were cut short): Bedrock's own counts.
  std::optional<Usage> u = header_usage(response);
  for (const json& doc : docs.docs)
    if (!u) u = invocation_metrics(doc);
  if (u) {
    r.usage = *u;
    r.final_usage = true;
  }
  return r;
}

ResponseInfo decode_bedrock_converse(std::string_view body, bool stream) {
  ResponseInfo r;
  auto read = [&r](const json& doc) {
    if (std::string stop = get_string(doc, "stopReason"); !stop.empty()) r.stop_reason = stop;
    if (std::optional<json> u = get_object(doc, "usage")) {
      r.usage = converse_usage(*u);
      r.final_usage = true;
    }
  };
  auto tool_use = [&r](const json& holder) {
    if (std::optional<json> use = get_object(holder, "toolUse")) r.add_tool_call(get_string(*use, "name"));
  };
  if (!stream) {
    Documents d = parse_documents(body);
    for (const json& doc : d.docs) {
      read(doc);
      std::optional<json> out = get_object(doc, "output");
      std::optional<json> msg = out ? get_object(*out, "message") : std::nullopt;
      if (auto content = msg ? get_array(*msg, "content") : std::nullopt)
        for (json block : *content) tool_use(block);
      // An error body is {"message": ...} (its type in a header); a result has "output".
      if (!get_member(doc, "output") && !get_member(doc, "usage"))
        if (std::string msg = get_string(doc, "message"); !msg.empty()) r.error = msg;
    }
    return r;
  }
  protocol::EventStream es = protocol::parse_eventstream(body);
  r.error = es.error;
  for (const protocol::EventStreamMessage& m : es.messages) {
    if (m.message_type != "event") {
      r.error = exception_text(m);
      continue;
    }
    Documents d;
    if ((m.event_type == "messageStop" || m.event_type == "metadata") && add_document(m.payload, d)) read(d.docs[0]);
    if (m.event_type == "contentBlockStart" && add_document(m.payload, d))
      if (std::optional<json> start = get_object(d.docs.back(), "start")) tool_use(*start);
  }
  return r;
}

ResponseInfo decode_ollama(const Documents& d) {
  ResponseInfo r;
  for (const json& doc : d.docs) {
    if (std::string err = document_error(doc); !err.empty()) r.error = err;
    if (std::string model = get_string(doc, "model"); !model.empty()) r.model = model;
    // A streamed call comes whole, in one chunk's message.
    if (std::optional<json> msg = get_object(doc, "message")) add_chat_tool_calls(*msg, r);
    bool done = false;
    if (std::optional<json> v = get_member(doc, "done"); !v || v->get_bool().get(done) || !done) continue;
    r.stop_reason = get_string(doc, "done_reason");
    // No prompt_eval_count: Ollama evaluated nothing new (the whole prompt was in its cache).
    r.usage.input_tokens = get_count(doc, "prompt_eval_count").value_or(0);
    r.usage.output_tokens = get_count(doc, "eval_count").value_or(0);
    r.final_usage = true;
  }
  return r;
}

}  // namespace tt::provider::detail
