// tokentap report --html FILE: the analysis as one self-contained page
// (analysis/html.h). The page is written next to FILE and renamed over it, so
// FILE is either the old page or the whole new one, never half of one.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "analysis/html.h"
#include "cli/commands.h"

namespace tt::cli {

namespace {

bool write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

int write_html_report(const nlohmann::ordered_json& analysis, const std::string& path) {
  std::string page = analysis::render_html(analysis);
  if (path == "-") {
    if (write_all(STDOUT_FILENO, page)) return 0;
    fprintf(stderr, "tokentap: cannot write the HTML report to stdout: %s\n", strerror(errno));
    return 1;
  }
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "tokentap: cannot write %s: %s\n", path.c_str(), strerror(errno));
    return 1;
  }
  bool ok = write_all(fd, page);
  int err = errno;
  if (close(fd) != 0 && ok) ok = false, err = errno;
  if (ok && rename(tmp.c_str(), path.c_str()) != 0) ok = false, err = errno;
  if (!ok) {
    unlink(tmp.c_str());
    fprintf(stderr, "tokentap: cannot write %s: %s\n", path.c_str(), strerror(err));
    return 1;
  }
  return 0;
}

}  // namespace tt::cli
