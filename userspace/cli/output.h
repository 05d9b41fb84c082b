// Sinks and report shared by `profile` and `replay`.
#pragma once
#include <memory>

#include "aggregate/aggregator.h"
#include "cli/commands.h"
#include "common/result.h"
#include "sink/sink.h"

namespace tt::cli {

class Outputs {
 public:
  Result<void> open(const OutputOptions& opts);
  sink::RecordSink* sink() { return &multi_; }
  // Closes the files and prints the report. Returns false if a file failed.
  bool finish(const aggregate::Aggregator& agg);

 private:
  OutputOptions opts_;
  std::unique_ptr<sink::DelimitedProtoSink> proto_;
  std::unique_ptr<sink::JsonLinesSink> json_;
  sink::MultiSink multi_;
};

std::string new_run_id();

}  // namespace tt::cli
