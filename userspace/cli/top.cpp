// tokentap top: the options, handed to the view (top/client.h).
#include "cli/commands.h"
#include "top/client.h"

namespace tt::cli {

int run_top(const TopOptions& o) {
  return top::run_view({o.socket, o.once ? 1 : o.batch, o.width});
}

}  // namespace tt::cli
