// The self-contained HTML report (docs/analysis.md, "The HTML report"): one
// page with its CSS and JavaScript inline, the analysis document embedded as
// JSON, drawn into SVG charts by the page itself. It loads nothing, so it opens
// from file:// with no network.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace tt::analysis {

// The page for an analysis document (to_json's output, docs/analysis.md).
std::string render_html(const nlohmann::ordered_json& analysis);

// The document as the text of a <script type="application/json">: every '<'
// written as \u003c, so no string in it (a model name, a label) can end the
// script or open a comment, and JSON.parse reads it back unchanged.
std::string json_for_script(const nlohmann::ordered_json& analysis);

}  // namespace tt::analysis
