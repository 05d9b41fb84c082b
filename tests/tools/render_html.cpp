// Test helper: the HTML report for an analysis document, without the analysis
// itself (tests/e2e/test_html_report.py). render_html ANALYSIS.json OUT.html
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "analysis/html.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s ANALYSIS.json OUT.html\n", argv[0]);
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    fprintf(stderr, "render_html: cannot read %s\n", argv[1]);
    return 1;
  }
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::ordered_json doc;
  try {
    doc = nlohmann::ordered_json::parse(text.str());
  } catch (const std::exception& e) {
    fprintf(stderr, "render_html: %s: %s\n", argv[1], e.what());
    return 1;
  }
  std::ofstream out(argv[2], std::ios::binary);
  out << tt::analysis::render_html(doc);
  out.close();
  if (!out) {
    fprintf(stderr, "render_html: cannot write %s\n", argv[2]);
    return 1;
  }
  return 0;
}
