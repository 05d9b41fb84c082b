// The HTML report's page (analysis/html.h): the embedded analysis cannot end its
// script, reads back unchanged, and the page's policy allows only its own script
// and style. (The charts themselves are checked in Chromium: tests/e2e/test_html_report.py.)
#include "analysis/html.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using J = nlohmann::ordered_json;

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

// The text between the data script's tags.
std::string embedded(const std::string& page) {
  const std::string open = "<script type=\"application/json\" id=\"tokentap-analysis\">";
  size_t a = page.find(open);
  EXPECT_NE(a, std::string::npos);
  a += open.size();
  size_t b = page.find("</script>", a);
  EXPECT_NE(b, std::string::npos);
  return page.substr(a, b - a);
}

J hostile_doc() {
  const std::string evil = "</script><script>alert(1)</script><!-- <img src=x onerror=alert(2)> & </SCRIPT >";
  J doc = {{"version", 1},
           {"scope", {{"kind", "run"}, {"run_id", evil}, {"since_unix_ns", 0}, {"until_unix_ns", 0}, {"label", evil}}},
           {"verdict", {evil}},
           {"by_model", {{{"provider", "anthropic"}, {"model", evil}, {"requests", 1}, {"cost_usd", 0.5}, {"tokens", 9}}}},
           {"requests", J::array()}};
  return doc;
}

TEST(HtmlReport, EmbeddedJsonCannotEndItsScript) {
  J doc = hostile_doc();
  std::string text = tt::analysis::json_for_script(doc);
  EXPECT_EQ(text.find('<'), std::string::npos);
  EXPECT_EQ(text.find('>'), std::string::npos);
  EXPECT_EQ(text.find('&'), std::string::npos);
  EXPECT_EQ(J::parse(text), doc);  // the same document to any JSON reader

  std::string page = tt::analysis::render_html(doc);
  EXPECT_EQ(count(page, "<script"), 2u);
  EXPECT_EQ(count(page, "</script>"), 2u);
  EXPECT_EQ(count(page, "<!--"), 0u);
  EXPECT_EQ(J::parse(embedded(page)), doc);
}

TEST(HtmlReport, InvalidUtf8BecomesReplacementCharacters) {
  J doc = {{"version", 1}, {"scope", {{"label", std::string("model \xff\xfe end")}}}};
  std::string page;
  ASSERT_NO_THROW(page = tt::analysis::render_html(doc));
  EXPECT_EQ(J::parse(embedded(page))["scope"]["label"], "model \xEF\xBF\xBD\xEF\xBF\xBD end");
}

TEST(HtmlReport, PolicyAllowsOnlyTheOwnScriptAndStyle) {
  std::string page = tt::analysis::render_html(J::object());
  size_t at = page.find("<meta http-equiv=\"Content-Security-Policy\" content=\"");
  ASSERT_NE(at, std::string::npos);
  EXPECT_LT(at, page.find("<style>"));  // in force before anything it governs
  std::string policy = page.substr(at, page.find('>', at) - at);
  EXPECT_NE(policy.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(policy.find("script-src 'sha256-"), std::string::npos);
  EXPECT_NE(policy.find("style-src 'sha256-"), std::string::npos);
  EXPECT_EQ(policy.find("unsafe"), std::string::npos);
  // a 44-character base64 SHA-256 per hash
  size_t h = policy.find("'sha256-");
  EXPECT_EQ(policy.find('\'', h + 1) - (h + 8), 44u);
  // the same page for the same document, whatever the document
  EXPECT_EQ(page, tt::analysis::render_html(J::object()));
  EXPECT_EQ(policy, [&] {
    std::string other = tt::analysis::render_html(hostile_doc());
    size_t a = other.find("<meta http-equiv=\"Content-Security-Policy\"");
    return other.substr(a, other.find('>', a) - a);
  }());
}

}  // namespace
