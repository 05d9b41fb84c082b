// The daemon's settings: the configuration file (config/config.h) with the
// options given on the command line on top, and SIGHUP reloads.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "cli/output.h"
#include "config/config.h"

namespace tt::cli {

// The spool a daemon ships from when --collector is given without --spool.
inline constexpr const char* kDefaultShipSpool = "/var/lib/tokentap/spool";

// The file's settings (--config, else the default path) overridden by the
// options given on the command line.
Result<config::Config> load_settings(const DaemonOptions& o);
// The daemon's options with the settings in force.
DaemonOptions with_settings(DaemonOptions o, const config::Config& c);
// A CONFIG record's payload: what the parser process applies live.
nlohmann::json live_settings_json(const config::Config& c);
// A SIGHUP: the settings now in force and what to log once they are applied
// (what changed, what needs a restart), or nullopt: the file is bad (said on
// stderr) and the old ones stay.
struct Reloaded {
  config::Config in_force;
  std::string message;
};
std::optional<Reloaded> reload_settings(const DaemonOptions& cli, const config::Config& in_force);

}  // namespace tt::cli
