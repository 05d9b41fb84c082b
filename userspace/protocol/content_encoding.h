// Content-Encoding decoding: gzip, x-gzip, deflate (zlib or raw), br, zstd, identity,
// and comma-separated chains ("gzip, br" = gzip applied first, decoded last).
#pragma once
#include <string>
#include <string_view>

#include "common/result.h"

namespace tt::protocol {

// Decodes body per the Content-Encoding header value. Output larger than max_out is an
// error (decompression bomb guard). Unknown encodings are an error naming the encoding.
// A truncated compressed stream returns what could be decoded when allow_partial is set
// (a stream cut off by a process exit still yields its first events), else an error.
// over_limit, if given, says whether an error was max_out being reached.
Result<std::string> decode_content(std::string_view body, std::string_view content_encoding,
                                   size_t max_out, bool allow_partial = false, bool* over_limit = nullptr);

}  // namespace tt::protocol
