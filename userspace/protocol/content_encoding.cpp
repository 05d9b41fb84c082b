#include "protocol/content_encoding.h"

#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cctype>
#include <vector>

namespace tt::protocol {
namespace {

constexpr size_t kStep = 64 * 1024;

enum class Status { Done, Truncated, Corrupt, TooLarge };

struct Decoded {
  std::string out;
  Status status = Status::Done;
  std::string detail;  // for Corrupt
};

// Grows out by up to kStep bytes of writable room, never past max_out + 1: one byte
// over the cap is enough to tell the output is too large.
size_t grow(std::string& out, size_t max_out) {
  size_t left = max_out - out.size();
  size_t room = left < kStep ? left + 1 : kStep;
  out.resize(out.size() + room);
  return room;
}

// window_bits as for inflateInit2: 15+32 gzip or zlib (auto), 15 zlib, -15 raw deflate.
Decoded inflate_stream(std::string_view in, int window_bits, size_t max_out) {
  Decoded d;
  z_stream zs{};
  if (inflateInit2(&zs, window_bits) != Z_OK) return {{}, Status::Corrupt, "zlib init failed"};
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  for (;;) {
    size_t old = d.out.size();
    size_t room = grow(d.out, max_out);
    zs.next_out = reinterpret_cast<Bytef*>(d.out.data() + old);
    zs.avail_out = static_cast<uInt>(room);
    int ret = inflate(&zs, Z_NO_FLUSH);
    d.out.resize(old + room - zs.avail_out);
    if (d.out.size() > max_out) {
      d.status = Status::TooLarge;
      break;
    }
    if (ret == Z_STREAM_END) {
      // gzip allows members back to back; other trailing bytes are ignored.
      if (window_bits > 15 && zs.avail_in >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b) {
        inflateReset(&zs);
        continue;
      }
      break;
    }
    if (ret == Z_BUF_ERROR) {  // there was output room, so the input ran out
      d.status = Status::Truncated;
      break;
    }
    if (ret != Z_OK) {
      d.status = Status::Corrupt;
      d.detail = zs.msg ? zs.msg : ret == Z_NEED_DICT ? "needs a preset dictionary" : "inflate failed";
      break;
    }
  }
  inflateEnd(&zs);
  return d;
}

bool has_zlib_header(std::string_view in) {
  if (in.size() < 2) return false;
  auto b0 = static_cast<unsigned char>(in[0]), b1 = static_cast<unsigned char>(in[1]);
  return (b0 & 0x0f) == Z_DEFLATED && ((b0 << 8) | b1) % 31 == 0;
}

// "deflate" is meant to be zlib-wrapped (RFC 9110) but servers also send raw deflate.
Decoded deflate_stream(std::string_view in, size_t max_out) {
  if (!has_zlib_header(in)) return inflate_stream(in, -MAX_WBITS, max_out);
  Decoded d = inflate_stream(in, MAX_WBITS, max_out);
  if (d.status == Status::Corrupt) {
    Decoded raw = inflate_stream(in, -MAX_WBITS, max_out);
    if (raw.status != Status::Corrupt) return raw;
  }
  return d;
}

Decoded brotli_stream(std::string_view in, size_t max_out) {
  Decoded d;
  BrotliDecoderState* st = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
  if (!st) return {{}, Status::Corrupt, "brotli init failed"};
  auto next_in = reinterpret_cast<const uint8_t*>(in.data());
  size_t avail_in = in.size();
  for (;;) {
    size_t old = d.out.size();
    size_t room = grow(d.out, max_out);
    auto next_out = reinterpret_cast<uint8_t*>(d.out.data() + old);
    size_t avail_out = room;
    BrotliDecoderResult r = BrotliDecoderDecompressStream(st, &avail_in, &next_in, &avail_out, &next_out, nullptr);
    d.out.resize(old + room - avail_out);
    if (d.out.size() > max_out) {
      d.status = Status::TooLarge;
      break;
    }
    if (r == BROTLI_DECODER_RESULT_SUCCESS) break;  // trailing bytes are ignored
    if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) {
      d.status = Status::Truncated;
      break;
    }
    if (r == BROTLI_DECODER_RESULT_ERROR) {
      d.status = Status::Corrupt;
      d.detail = BrotliDecoderErrorString(BrotliDecoderGetErrorCode(st));
      break;
    }
  }
  BrotliDecoderDestroyInstance(st);
  return d;
}

// Streaming API: frames without a content size decode, and frames concatenate.
Decoded zstd_stream(std::string_view in, size_t max_out) {
  Decoded d;
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  if (!dctx) return {{}, Status::Corrupt, "zstd init failed"};
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  size_t ret = 0;
  for (;;) {
    size_t old = d.out.size();
    size_t room = grow(d.out, max_out);
    ZSTD_outBuffer ob{d.out.data() + old, room, 0};
    ret = ZSTD_decompressStream(dctx, &ob, &ib);
    d.out.resize(old + ob.pos);
    if (ZSTD_isError(ret)) {
      d.status = Status::Corrupt;
      d.detail = ZSTD_getErrorName(ret);
      break;
    }
    if (d.out.size() > max_out) {
      d.status = Status::TooLarge;
      break;
    }
    // Done when all input is used and the decoder had nothing more to flush.
    if (ib.pos == ib.size && ob.pos < ob.size) {
      if (ret != 0) d.status = Status::Truncated;  // in the middle of a frame
      break;
    }
  }
  ZSTD_freeDCtx(dctx);
  return d;
}

enum class Coding { Identity, Gzip, Deflate, Brotli, Zstd };

struct Step {
  Coding coding;
  std::string name;
};

Result<std::vector<Step>> parse_codings(std::string_view header) {
  std::vector<Step> steps;
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view tok = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) tok.remove_prefix(1);
    while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) tok.remove_suffix(1);
    if (tok.empty()) continue;
    std::string name(tok);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    Coding c;
    if (name == "identity")
      c = Coding::Identity;
    else if (name == "gzip" || name == "x-gzip")
      c = Coding::Gzip;
    else if (name == "deflate")
      c = Coding::Deflate;
    else if (name == "br")
      c = Coding::Brotli;
    else if (name == "zstd")
      c = Coding::Zstd;
    else
      return make_error("unsupported content-encoding: " + name);
    steps.push_back({c, std::move(name)});
  }
  return steps;
}

}  // namespace

Result<std::string> decode_content(std::string_view body, std::string_view content_encoding,
                                   size_t max_out, bool allow_partial, bool* over_limit) {
  if (over_limit) *over_limit = false;
  auto steps = parse_codings(content_encoding);
  if (!steps) return make_error(steps.error());
  std::string cur(body);
  if (cur.empty()) return cur;  // e.g. a HEAD response: nothing to decode
  // Listed in the order applied, so undone last to first.
  for (auto it = steps->rbegin(); it != steps->rend(); ++it) {
    Decoded d;
    switch (it->coding) {
      case Coding::Identity:
        continue;
      case Coding::Gzip:
        d = inflate_stream(cur, MAX_WBITS + 32, max_out);
        break;
      case Coding::Deflate:
        d = deflate_stream(cur, max_out);
        break;
      case Coding::Brotli:
        d = brotli_stream(cur, max_out);
        break;
      case Coding::Zstd:
        d = zstd_stream(cur, max_out);
        break;
    }
    switch (d.status) {
      case Status::Done:
        break;
      case Status::Truncated:
        if (!allow_partial) return make_error(it->name + ": truncated stream");
        break;
      case Status::Corrupt:
        return make_error(it->name + ": " + d.detail);
      case Status::TooLarge:
        if (over_limit) *over_limit = true;
        return make_error(it->name + ": decoded body exceeds " + std::to_string(max_out) + " bytes");
    }
    cur = std::move(d.out);
  }
  if (cur.size() > max_out) {  // identity only
    if (over_limit) *over_limit = true;
    return make_error("body exceeds " + std::to_string(max_out) + " bytes");
  }
  return cur;
}

}  // namespace tt::protocol
