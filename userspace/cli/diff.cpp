// tokentap diff A B: analyses two runs' records and compares them (analysis/diff.h).
#include "analysis/diff.h"

#include <cstdio>

#include "analysis/load.h"
#include "cli/commands.h"
#include "pricing/pricing.h"

namespace tt::cli {

namespace {

Result<analysis::Analysis> analyse_file(const std::string& path, const pricing::PriceTable& prices, uint64_t ttl) {
  auto recs = analysis::read_requests(path);
  if (!recs) return Error{recs.error()};
  analysis::Scope scope;
  scope.kind = "files";
  scope.label = path;
  if (!recs->empty()) scope.run_id = recs->front().run_id();
  analysis::Options opts;
  opts.default_cache_ttl_s = ttl;
  return analysis::analyze(std::move(*recs), prices, std::move(scope), opts);
}

}  // namespace

int run_diff(const DiffOptions& o) {
  auto prices = pricing::PriceTable::load_default();
  if (!prices) {
    fprintf(stderr, "tokentap diff: price table: %s\n", prices.error().c_str());
    return 2;
  }
  auto a = analyse_file(o.a, *prices, o.cache_ttl_s);
  auto b = a ? analyse_file(o.b, *prices, o.cache_ttl_s) : Result<analysis::Analysis>(Error{""});
  if (!a || !b) {
    fprintf(stderr, "tokentap diff: %s\n", (!a ? a.error() : b.error()).c_str());
    return 2;
  }
  std::string text = o.json ? analysis::diff_json(*a, *b).dump() + "\n" : analysis::render_diff(*a, *b);
  return fwrite(text.data(), 1, text.size(), stdout) == text.size() ? 0 : 1;
}

}  // namespace tt::cli
