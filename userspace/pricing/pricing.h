// What a request cost: the price table (the shipped prices.toml, compiled in,
// then the installed copy and /etc/tokentap/prices.d overrides) and the rules
// that turn a request's tokens into US dollars. An unknown model is never a
// silent zero: its Cost says known = false. The file format is documented at
// the top of userspace/pricing/prices.toml.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/result.h"

namespace tt::pricing {

// Where the installed data file and the override directory are.
std::string installed_path();  // <datadir>/tokentap/prices.toml
inline constexpr const char* kOverrideDir = "/etc/tokentap/prices.d";

struct Rates {  // USD per 1M tokens
  double input = 0, output = 0, cache_read = 0, cache_write_5m = 0, cache_write_1h = 0;
  bool operator==(const Rates&) const = default;
};
// Applies to the WHOLE request when its total input (input + cache_read + cache
// writes) exceeds the threshold; the highest such tier wins.
struct Tier {
  uint64_t above_input_tokens = 0;
  Rates rates;
  bool operator==(const Tier&) const = default;
};
// A window of peak hours, minutes of the UTC day [begin, end).
struct PeakWindow {
  uint16_t begin_min = 0, end_min = 0;
  bool operator==(const PeakWindow&) const = default;
};
struct Entry {
  std::string provider, model;             // provider names: docs in prices.toml; model = canonical id
  std::vector<std::string> aliases;        // other ids that mean this model (dated ids, "-latest", vendor prefixes...)
  std::string effective_from, effective_until;  // "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS]Z" (UTC), "" = open; until excluded
  Rates rates;
  std::vector<Tier> tiers;                 // sorted by threshold
  // Peak / off-peak billing (DeepSeek): the rates above are the peak rates, and
  // outside the peak windows a request costs off_peak_factor times them. Empty
  // windows: one price all day. peak_weekdays_only: Saturdays and Sundays (UTC)
  // are off-peak all day.
  double off_peak_factor = 1;
  std::vector<PeakWindow> peak_hours_utc;
  bool peak_weekdays_only = false;
  std::string source, source_date;         // URL of the public price list, date it was read
  std::string origin;                      // "built-in", or the file path it came from
  bool operator==(const Entry&) const = default;
};

class PriceTable {
 public:
  // Built-in data (the shipped file compiled in), then the installed copy
  // (installed_path(), replaces the built-in when present), then every
  // kOverrideDir/*.toml in name order, then `extra` (files or directories, as
  // load()), each entry overriding the same (provider, model, effective_from).
  static Result<PriceTable> load_default(const std::vector<std::string>& extra = {});
  // The same with other places for the installed copy and the override directory
  // (either may be missing).
  static Result<PriceTable> load_layered(const std::string& installed, const std::string& override_dir,
                                         const std::vector<std::string>& extra);
  // The built-in data (with_builtin), then each file, or each directory's
  // *.toml in name order. A file or directory that does not exist is an error.
  static Result<PriceTable> load(const std::vector<std::string>& files_or_dirs, bool with_builtin = true);
  // One file's text; origin names it in errors ("FILE:LINE:COL: reason") and
  // in each entry's origin.
  static Result<PriceTable> parse(std::string_view toml_text, const std::string& origin);
  // The compiled-in data file, as shipped.
  static std::string_view builtin_text();

  // The entry for this provider and model at this time (0 = now), or nullptr.
  // Provider names compare case-insensitively. The model matches an entry's id
  // or one of its aliases, case-insensitively and with '.' and '-' alike, first
  // as given, then without a path ("models/", "anthropic/", an ARN), a Bedrock
  // geography and vendor prefix ("us.anthropic.") and version suffix ("-v1:0"),
  // a Vertex "@version", a "[1m]"-style tag, and last a date or "-latest"
  // ("-20250929", "-2024-08-06"). For openrouter with no entry of its own, the
  // vendor's entry ("anthropic/..." -> anthropic): OpenRouter charges the
  // vendor's list price. Of the entries valid at that time, the one with the
  // latest effective_from wins.
  // The pointer (like those in Cost) is valid while this table lives, unmerged.
  const Entry* find(std::string_view provider, std::string_view model, uint64_t unix_ns) const;
  const std::vector<Entry>& entries() const { return entries_; }

  // Adds every entry of `over`: one with the same (provider, model,
  // effective_from) as an entry here replaces it.
  void merge(const PriceTable& over);

 private:
  struct Span {
    int64_t from_s = INT64_MIN, until_s = INT64_MAX;
  };
  void reindex();
  const Entry* lookup(const std::string& provider, const std::string& key, int64_t t_s) const;

  std::vector<Entry> entries_;
  std::vector<Span> spans_;                                   // parallel to entries_
  std::unordered_map<std::string, std::vector<size_t>> index_;  // provider '\n' matching key -> entries
};

// The candidate ids find() tries for a model, in order (lower case, '.' as '-').
std::vector<std::string> model_keys(std::string_view model);

struct Tokens {
  uint64_t input = 0 /*uncached*/, cache_read = 0, cache_write_5m = 0, cache_write_1h = 0, output = 0;
};
enum class Billing { Metered, Subscription, Local, Unknown };
struct Request {
  std::string provider, model;
  Tokens tokens;
  uint64_t start_unix_ns = 0;  // 0 = now
  bool billable = true;
  Billing billing = Billing::Unknown;
  std::optional<double> reported_usd;  // the provider's own reported cost (OpenRouter usage.cost)
};
struct Cost {
  double usd = 0;
  bool known = false;
  std::string source;           // "provider" | "price_table" | "unknown_model" | "local" | "not_billable"
  bool api_equivalent = false;  // subscription traffic: what the API would have charged
  const Entry* entry = nullptr;
  const Tier* tier = nullptr;   // the long-context tier applied, if any
  bool off_peak = false;        // priced at the entry's off-peak factor
};
// Rules, first that applies: a reported cost ("provider"); not billable (0,
// "not_billable"); Billing::Local or provider "local"/"ollama" (0, "local");
// an entry of the table ("price_table"; api_equivalent for a subscription);
// else "unknown_model" with known = false and usd 0.
Cost price(const PriceTable& t, const Request& r);

// Rates of an entry for a request of this total input at this time: the tier's
// (if any applies) times the off-peak factor (if off-peak).
Rates rates_for(const Entry& e, uint64_t total_input, uint64_t unix_ns, const Tier** tier = nullptr,
                bool* off_peak = nullptr);

// `tokentap prices`: the entries whose provider is `provider` ("" = any) and
// whose id or an alias contains `model` or matches it as find() would ("" = any),
// sorted by provider, model and date.
std::vector<const Entry*> select(const PriceTable& t, std::string_view provider, std::string_view model);
// A text table of them, one line each (header first), columns padded.
std::string format_table(const std::vector<const Entry*>& entries);
// One JSON object per line, every field.
std::string format_json(const std::vector<const Entry*>& entries);

}  // namespace tt::pricing
