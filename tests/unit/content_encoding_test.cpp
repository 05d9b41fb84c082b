#include "protocol/content_encoding.h"

#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <fstream>
#include <sstream>

using tt::protocol::decode_content;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream f(std::string(TT_TEST_DATA_DIR) + "/http/" + name, std::ios::binary);
  EXPECT_TRUE(f.good()) << name;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

const std::string& reply() {
  static const std::string r = fixture("reply.json");
  return r;
}

// window_bits: 31 gzip, 15 zlib, -15 raw deflate. With sync_after, the first sync_after
// bytes are flushed to a byte boundary first and *sync_at gets the compressed offset.
std::string zlib_compress(std::string_view in, int window_bits, size_t sync_after = 0, size_t* sync_at = nullptr) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 64, '\0');
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  auto run = [&](std::string_view part, int flush) {
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(part.data()));
    zs.avail_in = static_cast<uInt>(part.size());
    EXPECT_NE(deflate(&zs, flush), Z_STREAM_ERROR);
  };
  if (sync_after) {
    run(in.substr(0, sync_after), Z_SYNC_FLUSH);
    *sync_at = zs.total_out;
    in = in.substr(sync_after);
  }
  run(in, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string gzip(std::string_view in) { return zlib_compress(in, 31); }

// One zstd frame without a content size; with sync_after, a block boundary after that many bytes.
std::string zstd_stream(std::string_view in, size_t sync_after = 0, size_t* sync_at = nullptr) {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  std::string out(ZSTD_compressBound(in.size()) + 64, '\0');
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  auto run = [&](std::string_view part, ZSTD_EndDirective mode) {
    ZSTD_inBuffer ib{part.data(), part.size(), 0};
    EXPECT_EQ(ZSTD_compressStream2(c, &ob, &ib, mode), 0u);
  };
  if (sync_after) {
    run(in.substr(0, sync_after), ZSTD_e_flush);
    *sync_at = ob.pos;
    in = in.substr(sync_after);
  }
  run(in, ZSTD_e_end);
  out.resize(ob.pos);
  ZSTD_freeCCtx(c);
  return out;
}

constexpr size_t kMax = 1 << 20;

}  // namespace

TEST(ContentEncoding, Gzip) {
  auto r = decode_content(gzip(reply()), "gzip", kMax);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, reply());
}

TEST(ContentEncoding, NamesAreCaseInsensitiveAndXGzipIsGzip) {
  for (const char* ce : {"x-gzip", "GZip", " gzip ", "X-GZIP"}) {
    auto r = decode_content(gzip(reply()), ce, kMax);
    ASSERT_TRUE(r) << ce << ": " << r.error();
    EXPECT_EQ(*r, reply());
  }
}

TEST(ContentEncoding, GzipMembersConcatenate) {
  auto r = decode_content(gzip("first half, ") + gzip("second half"), "gzip", kMax);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, "first half, second half");
}

TEST(ContentEncoding, BytesAfterTheGzipStreamAreIgnored) {
  auto r = decode_content(gzip(reply()) + std::string("\r\n\0\0", 4), "gzip", kMax);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, reply());
}

TEST(ContentEncoding, DeflateWithZlibHeaderAndRaw) {
  auto z = decode_content(zlib_compress(reply(), 15), "deflate", kMax);
  ASSERT_TRUE(z) << z.error();
  EXPECT_EQ(*z, reply());
  auto raw = decode_content(zlib_compress(reply(), -15), "deflate", kMax);
  ASSERT_TRUE(raw) << raw.error();
  EXPECT_EQ(*raw, reply());
}

TEST(ContentEncoding, Brotli) {
  auto r = decode_content(fixture("reply.json.br"), "br", kMax);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, reply());
}

TEST(ContentEncoding, ZstdWithAndWithoutContentSize) {
  std::string with_size(ZSTD_compressBound(reply().size()), '\0');
  with_size.resize(ZSTD_compress(with_size.data(), with_size.size(), reply().data(), reply().size(), 3));
  for (const std::string& z : {with_size, fixture("reply.json.nosize.zst"), zstd_stream(reply())}) {
    auto r = decode_content(z, "zstd", kMax);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(*r, reply());
  }
}

TEST(ContentEncoding, ZstdFramesConcatenate) {
  auto r = decode_content(fixture("reply.json.2frames.zst"), "zstd", kMax);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, reply());
}

TEST(ContentEncoding, Chains) {
  // Listed in the order applied: "gzip, br" is brotli(gzip(body)).
  auto gz_br = decode_content(fixture("reply.json.gz.br"), "gzip, br", kMax);
  ASSERT_TRUE(gz_br) << gz_br.error();
  EXPECT_EQ(*gz_br, reply());

  auto zstd_gzip = decode_content(gzip(zstd_stream(reply())), "zstd,gzip", kMax);
  ASSERT_TRUE(zstd_gzip) << zstd_gzip.error();
  EXPECT_EQ(*zstd_gzip, reply());

  auto deflate_gzip = decode_content(gzip(zlib_compress(reply(), 15)), "identity, deflate ,\tgzip,", kMax);
  ASSERT_TRUE(deflate_gzip) << deflate_gzip.error();
  EXPECT_EQ(*deflate_gzip, reply());

  // The wrong order fails rather than returning garbage.
  EXPECT_FALSE(decode_content(fixture("reply.json.gz.br"), "br, gzip", kMax));
}

TEST(ContentEncoding, IdentityAndEmpty) {
  EXPECT_EQ(*decode_content("plain", "identity", kMax), "plain");
  EXPECT_EQ(*decode_content("plain", "", kMax), "plain");
  for (const char* ce : {"gzip", "deflate", "br", "zstd", "gzip, br"}) {
    auto r = decode_content("", ce, kMax);
    ASSERT_TRUE(r) << ce << ": " << r.error();
    EXPECT_EQ(*r, "");
  }
}

TEST(ContentEncoding, UnknownEncodingIsAnError) {
  auto r = decode_content("data", "compress", kMax);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "unsupported content-encoding: compress");
  auto chain = decode_content(gzip("x"), "gzip, Snappy", kMax, true);
  ASSERT_FALSE(chain);
  EXPECT_EQ(chain.error(), "unsupported content-encoding: snappy");
  EXPECT_FALSE(decode_content("", "aes128gcm", kMax));
}

TEST(ContentEncoding, BombGuard) {
  std::string zeros(16 << 20, '\0');
  auto gz = decode_content(gzip(zeros), "gzip", kMax, true);
  ASSERT_FALSE(gz);
  EXPECT_EQ(gz.error(), "gzip: decoded body exceeds 1048576 bytes");

  auto br = decode_content(fixture("zeros_8m.br"), "br", kMax, true);
  ASSERT_FALSE(br);
  EXPECT_EQ(br.error(), "br: decoded body exceeds 1048576 bytes");

  auto zs = decode_content(zstd_stream(zeros), "zstd", kMax, true);
  ASSERT_FALSE(zs);
  EXPECT_EQ(zs.error(), "zstd: decoded body exceeds 1048576 bytes");

  // The cap itself is allowed, one byte less is not.
  const size_t n = reply().size();
  EXPECT_TRUE(decode_content(gzip(reply()), "gzip", n));
  EXPECT_FALSE(decode_content(gzip(reply()), "gzip", n - 1));
  EXPECT_TRUE(decode_content(fixture("reply.json.br"), "br", n));
  EXPECT_FALSE(decode_content(fixture("reply.json.br"), "br", n - 1));
  EXPECT_TRUE(decode_content(zstd_stream(reply()), "zstd", n));
  EXPECT_FALSE(decode_content(zstd_stream(reply()), "zstd", n - 1));
  // Each step of a chain is capped.
  EXPECT_FALSE(decode_content(gzip(gzip(zeros)), "gzip, gzip", kMax));
}

TEST(ContentEncoding, TruncatedGzip) {
  size_t sync_at = 0;
  std::string gz = zlib_compress(reply(), 31, 100, &sync_at);
  std::string cut = gz.substr(0, sync_at);
  auto strict = decode_content(cut, "gzip", kMax);
  ASSERT_FALSE(strict);
  EXPECT_EQ(strict.error(), "gzip: truncated stream");
  auto partial = decode_content(cut, "gzip", kMax, true);
  ASSERT_TRUE(partial) << partial.error();
  EXPECT_EQ(*partial, reply().substr(0, 100));

  // All data but the CRC and length trailer.
  std::string no_trailer = gz.substr(0, gz.size() - 8);
  EXPECT_EQ(decode_content(no_trailer, "gzip", kMax).error(), "gzip: truncated stream");
  EXPECT_EQ(*decode_content(no_trailer, "gzip", kMax, true), reply());
}

TEST(ContentEncoding, TruncatedZstdAndBrotli) {
  size_t sync_at = 0;
  std::string zs = zstd_stream(reply(), 100, &sync_at);
  std::string cut = zs.substr(0, sync_at);
  EXPECT_EQ(decode_content(cut, "zstd", kMax).error(), "zstd: truncated stream");
  auto partial = decode_content(cut, "zstd", kMax, true);
  ASSERT_TRUE(partial) << partial.error();
  EXPECT_EQ(*partial, reply().substr(0, 100));

  std::string br = fixture("reply.json.br");
  br.resize(br.size() / 2);
  EXPECT_EQ(decode_content(br, "br", kMax).error(), "br: truncated stream");
  auto br_partial = decode_content(br, "br", kMax, true);
  ASSERT_TRUE(br_partial) << br_partial.error();
  EXPECT_LT(br_partial->size(), reply().size());
  EXPECT_EQ(*br_partial, reply().substr(0, br_partial->size()));
}

TEST(ContentEncoding, CorruptDataIsAnErrorEvenWhenPartialIsAllowed) {
  std::string gz = gzip(reply());
  gz[10] = static_cast<char>(0xff);  // first deflate block: type 3 does not exist
  auto g = decode_content(gz, "gzip", kMax, true);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error(), "gzip: invalid block type");

  auto z = decode_content("this is not zstd", "zstd", kMax, true);
  ASSERT_FALSE(z);
  EXPECT_EQ(z.error(), "zstd: Unknown frame descriptor");

  auto b = decode_content(std::string(64, '\xff'), "br", kMax, true);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().substr(0, 4), "br: ");
}
