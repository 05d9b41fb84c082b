// Recognising protocols from the middle of a connection (one joined after it
// opened, or whose first bytes were lost), where no connection preface or
// upgrade says what follows. Only HTTP/1.x can be decoded from there (a message
// start is self-contained); HTTP/2 and WebSocket are only recognised, so that
// they are counted as such instead of as "not HTTP".
#pragma once
#include <string_view>

namespace tt::protocol {

// data, from the start of a write or read call, is a run of HTTP/2 frames laid
// end to end (the last may run past the end of data): every header well formed
// for its type (known type, only its defined flags, a stream id where the type
// needs one, the fixed lengths of PING, PRIORITY, RST_STREAM and WINDOW_UPDATE)
// and no frame longer than the default 16 KiB. Text never passes (its first
// three bytes make a length in the millions).
bool looks_like_h2_frames(std::string_view data);

// The same for RFC 6455 frames, masked (a client's) or not (a server's): known
// opcodes, no reserved bits, control frames whole and short, minimal length
// encodings, fragments in order (the first may continue a message begun earlier).
bool looks_like_ws_frames(std::string_view data, bool masked);

}  // namespace tt::protocol
