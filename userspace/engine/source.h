// Where raw capture records come from: the kernel (LiveCapture) or a capture
// file (FileSource). The engine drives either the same way: transfer() until
// it says there is nothing more (Pixie's SourceConnector shape).
#pragma once
#include <cstddef>
#include <functional>

namespace tt::engine {

using RecordFn = std::function<void(const void*, size_t)>;

class Source {
 public:
  virtual ~Source() = default;
  // Delivers the records waiting (waiting up to timeout_ms for some); returns
  // how many, or -1 once the source has ended.
  virtual int transfer(int timeout_ms) = 0;
};

}  // namespace tt::engine
