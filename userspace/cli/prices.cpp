// tokentap prices: the price table in use (built-in, installed, overrides) and
// where each entry came from (pricing/pricing.h).
#include <cstdio>

#include "cli/commands.h"
#include "pricing/pricing.h"

namespace tt::cli {

int run_prices(const PricesOptions& opts) {
  auto table = pricing::PriceTable::load_default(opts.files);
  if (!table) {
    fprintf(stderr,
            "tokentap prices: %s\n  fix that file (the format is described at the top of the shipped prices.toml, "
            "installed as %s), or take it out of %s or --file\n",
            table.error().c_str(), pricing::installed_path().c_str(), pricing::kOverrideDir);
    return 2;
  }
  auto rows = pricing::select(*table, opts.provider, opts.model);
  std::string out = opts.json ? pricing::format_json(rows) : pricing::format_table(rows);
  fwrite(out.data(), 1, out.size(), stdout);
  if (rows.empty() && !opts.json) fprintf(stderr, "tokentap prices: no entry matches\n");
  return 0;
}

}  // namespace tt::cli
