// `tokentap collector`: the gRPC service on TLS, the store, and /metrics with
// totals across the fleet. Runs in the foreground until SIGTERM or SIGINT.
#pragma once
#include <string>

namespace tt::collector {

struct CollectorOptions {
  std::string listen;         // HOST:PORT
  std::string db;             // sqlite:PATH | postgresql://...
  std::string token_file;     // accepted bearer tokens
  std::string tls_cert, tls_key;
  std::string tls_client_ca;  // require client certificates signed by it (mutual TLS)
  std::string metrics_listen; // HOST:PORT for GET /metrics ("" = none)
  std::string otlp_endpoint;  // OTLP/HTTP base URL: each new record exported, one resource per daemon host
};

// Its exit code: 0 after SIGTERM, 2 for bad options or a store or port it cannot open.
int run_collector(const CollectorOptions& opts);

}  // namespace tt::collector
