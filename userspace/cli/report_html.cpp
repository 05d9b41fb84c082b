// The HTML report's file (the page itself: analysis/html.h once it lands).
#include <cstdio>

#include "cli/commands.h"

namespace tt::cli {

int write_html_report(const nlohmann::ordered_json& analysis, const std::string& path) {
  FILE* f = fopen(path.c_str(), "w");
  if (!f) {
    fprintf(stderr, "tokentap report: cannot write %s: %m\n", path.c_str());
    return 1;
  }
  std::string json = analysis.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  for (size_t at = 0; (at = json.find("</", at)) != std::string::npos;) json.replace(at, 2, "<\\/");
  std::string page = "<!doctype html><meta charset=utf-8><title>tokentap</title><script type=\"application/json\" "
                     "id=\"tokentap-analysis\">" + json + "</script>\n";
  bool ok = fwrite(page.data(), 1, page.size(), f) == page.size();
  return fclose(f) == 0 && ok ? 0 : 1;
}

}  // namespace tt::cli
