// Self-contained interactive HTML pages (the explorer of issue 13). One page is one file: the
// data as JSON inside <script type="application/json" id="qkv-data">, the shared stylesheet
// (explorer.css) and script (explorer.js) and the page's own script, all from the templates
// embedded at build time (io/html_assets.h). No framework, no network: a Content-Security-Policy
// forbids every fetch, so the page works offline from a file.
//
// Layering: the demos build the data (demos/*_page.h); this file only assembles and writes.
#pragma once

#include <string>

namespace qkv::pictures {

struct HtmlPage {
  std::string title;      // <title> and the page heading
  std::string script;     // the page's script among the templates, e.g. "explain.js"
  std::string data_json;  // a JSON object: what the page shows and recomputes
};

// The whole page as text.
std::string render_html_page(const HtmlPage& page);

// JSON text made safe inside a <script> element: '<', '>', '&', U+2028 and U+2029 become \u
// escapes (they can only occur inside strings, so it is the same JSON value).
std::string escape_json_for_script(const std::string& json);

// Before the work starts: `path` must be a file path whose folder exists and is writable, and
// not a directory. `what` names the option in messages, e.g. "qkv explain: --html".
void check_output_file(const std::string& path, const std::string& what);

// Writes `text` to `path` (through a temporary file renamed into place); throws qkv::FileError
// naming `what`, the path and the reason.
void write_text_file(const std::string& path, const std::string& text, const std::string& what);

}  // namespace qkv::pictures
