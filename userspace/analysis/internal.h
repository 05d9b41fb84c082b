// Shared between the analysis's parts (not an interface).
#pragma once
#include <map>
#include <optional>
#include <vector>

#include "analysis/analysis.h"

namespace tt::analysis::detail {

uint64_t prompt_of(const v1::ApiRequest& r);  // input + cache read + cache write
// Its cache writes by lifetime: {5 minutes, 1 hour} (writes not broken down are 5-minute).
std::pair<uint64_t, uint64_t> writes_of(const v1::ApiRequest& r);
uint64_t end_ns(const v1::ApiRequest& r);  // its last byte, else its first
double usd(uint64_t tokens, double rate_per_million);
uint64_t scaled(uint64_t bytes, uint64_t total, uint64_t prompt);
uint64_t ttl_ns(const v1::ApiRequest& r, const Options& o);  // the cache lifetime after r

// Every finding of one session (its requests, their conversations) into a.findings.
void find_all(Analysis& a, int session, const std::vector<int>& members,
              const std::map<uint64_t, std::vector<int>>& convs, const Options& opts);
// Waste by category, the findings' words, verdicts.
void summarise(Analysis& a);

}  // namespace tt::analysis::detail
