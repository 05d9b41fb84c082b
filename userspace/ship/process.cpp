#include "ship/process.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/text_file.h"
#include "ship/otlp_feeder.h"

namespace tt::ship {

namespace {

std::atomic<bool> g_stop{false};
void on_term(int) { g_stop = true; }

// The first non-empty line, without surrounding blanks.
std::string first_line(const std::string& text) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (auto t = trim(line); !t.empty()) return std::string(t);
  return "";
}

void ship_to_collector(const ShipperOptions& opts, int dir_fd) {
  std::vector<std::string> others;
  if (!opts.otlp_endpoint.empty()) others.push_back(kOtlpCursor);
  ShipStats st = Shipper(opts, dir_fd, others).run(g_stop);
  fprintf(stderr, "tokentap: shipper: %llu record(s) in %llu batch(es): %llu stored, %llu already held, %llu rejected\n",
          static_cast<unsigned long long>(st.records), static_cast<unsigned long long>(st.batches),
          static_cast<unsigned long long>(st.stored), static_cast<unsigned long long>(st.duplicates),
          static_cast<unsigned long long>(st.rejected));
}

void feed_otlp(const ShipperOptions& opts, int dir_fd) {
  otlp::ExporterOptions eo;
  eo.host_name = opts.host;
  auto exporter = otlp::OtlpExporter::open(opts.otlp_endpoint, eo);
  if (!exporter) {
    fprintf(stderr, "tokentap: OTLP: %s\n", exporter.error().c_str());
    return;
  }
  std::vector<std::string> others;
  if (!opts.target.empty()) others.push_back("shipped");
  uint64_t n = OtlpFeeder(std::move(*exporter), dir_fd, others).run(g_stop);
  fprintf(stderr, "tokentap: OTLP: %llu record(s) exported from the spool\n", static_cast<unsigned long long>(n));
}

[[noreturn]] void child(const ShipperOptions& opts, int dir_fd, isolate::Identity who) {
  prctl(PR_SET_NAME, "tokentap-ship", 0, 0, 0);
  prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);  // the daemon gone: stop too
  signal(SIGINT, SIG_IGN);                      // the daemon drives the end
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, nullptr);
  Result<void> r = isolate::close_fds_except({dir_fd});
  if (r) r = isolate::drop_user(who);
  if (r) r = isolate::drop_capabilities();
  if (!r) {
    fprintf(stderr, "tokentap: the shipper cannot confine itself: %s\n", r.error().c_str());
    _exit(3);
  }
  std::thread otlp;
  if (!opts.otlp_endpoint.empty()) otlp = std::thread(feed_otlp, std::cref(opts), dir_fd);
  if (!opts.target.empty()) ship_to_collector(opts, dir_fd);
  if (otlp.joinable()) otlp.join();
  _exit(0);
}

}  // namespace

Result<ShipperOptions> shipper_options(const std::string& target, const std::string& ca_file,
                                       const std::string& token_file, const std::string& cert_file,
                                       const std::string& key_file) {
  ShipperOptions o;
  o.target = target;
  if (!ca_file.empty()) {
    auto ca = read_text_file(ca_file, "collector CA");
    if (!ca) return Error{ca.error()};
    o.ca_pem = *ca;
  }
  if (!token_file.empty()) {
    auto t = read_text_file(token_file, "token file");
    if (!t) return Error{t.error()};
    o.token = first_line(*t);
    if (o.token.empty()) return make_error("the token file " + token_file + " holds no token");
  }
  if (cert_file.empty() != key_file.empty()) return make_error("a client certificate needs both its cert and its key");
  if (!cert_file.empty()) {
    auto c = read_text_file(cert_file, "client certificate");
    auto k = c ? read_text_file(key_file, "client key") : Result<std::string>(std::string());
    if (!c || !k) return Error{!c ? c.error() : k.error()};
    o.cert_pem = *c;
    o.key_pem = *k;
  }
  if (!target.empty() && o.token.empty() && o.cert_pem.empty())
    return make_error("the collector needs --token-file or a client certificate (--collector-cert, --collector-key)");
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  o.host = host;
  return o;
}

ShipperProcess::~ShipperProcess() {
  if (pid_ > 0) stop();
}

Result<void> ShipperProcess::start(const ShipperOptions& opts, int spool_dir_fd, isolate::Identity who) {
  fflush(nullptr);
  pid_ = fork();
  if (pid_ < 0) return make_error(std::string("fork: ") + strerror(errno));
  if (pid_ == 0) child(opts, spool_dir_fd, who);
  return {};
}

int ShipperProcess::stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  // It drains for up to 5 s; past 10 s it is not coming back.
  for (int i = 0; i < 200; ++i) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    usleep(50000);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

}  // namespace tt::ship
