// tokentap report: reads records written with --out (length-delimited protobuf)
// back, as JSON lines: the same lines --json writes.
#include <cstdio>

#include "cli/commands.h"
#include "sink/sink.h"

namespace tt::cli {

int run_report(const std::vector<std::string>& files, const std::string& json_out) {
  FILE* out = stdout;
  if (!json_out.empty() && json_out != "-") {
    out = fopen(json_out.c_str(), "w");
    if (!out) {
      fprintf(stderr, "tokentap: cannot write %s: %m\n", json_out.c_str());
      return 2;
    }
  }
  int rc = 0;
  for (const std::string& f : files) {
    auto n = sink::for_each_delimited_record(f, [out](const sink::v1::Record& rec) {
      std::string line = sink::record_to_json(rec);
      line += '\n';
      fwrite(line.data(), 1, line.size(), out);
    });
    if (!n) {
      // The records before the damage were written; say where it is.
      fprintf(stderr, "tokentap: %s\n", n.error().c_str());
      rc = 1;
    }
  }
  if (fflush(out) != 0 || (out != stdout && fclose(out) != 0)) {
    fprintf(stderr, "tokentap: cannot write %s: %m\n", json_out.c_str());
    return 1;
  }
  return rc;
}

}  // namespace tt::cli
