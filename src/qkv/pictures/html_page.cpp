#include "qkv/pictures/html_page.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "qkv/core/error.h"
#include "qkv/io/atomic_file.h"
#include "qkv/pictures/html_assets.h"

namespace qkv::pictures {

namespace fs = std::filesystem;

std::string_view html_asset(std::string_view name) {
  std::string known;
  for (const HtmlAsset& a : html_assets()) {
    if (a.name == name) return a.text;
    known += (known.empty() ? "" : ", ") + std::string(a.name);
  }
  fail("html_asset: no template named '", name, "'; the embedded templates are: ", known);
}

std::string escape_json_for_script(const std::string& json) {
  std::string out;
  out.reserve(json.size() + json.size() / 16);
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xE2' && i + 2 < json.size() && json[i + 1] == '\x80' &&
               (json[i + 2] == '\xA8' || json[i + 2] == '\xA9')) {
      out += json[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";  // line and paragraph separators
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

std::string escape_text(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// A template goes inside <script> or <style>: it must not close the element early.
std::string_view inline_asset(std::string_view name, std::string_view closing) {
  std::string_view text = html_asset(name);
  QKV_CHECK(text.find(closing) == std::string_view::npos, "render_html_page: template '", name, "' contains '",
            closing, "', which would end its element early");
  return text;
}

}  // namespace

std::string render_html_page(const HtmlPage& page) {
  QKV_CHECK(!page.data_json.empty() && page.data_json.front() == '{', "render_html_page: argument 'data_json' is '",
            page.data_json.substr(0, 20), "'; expected a JSON object");
  std::string html;
  html += "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n";
  html += "<title>" + escape_text(page.title) + "</title>\n<style>\n";
  html += inline_asset("explorer.css", "</style");
  html += "</style>\n</head>\n<body>\n<header><h1>" + escape_text(page.title) + "</h1></header>\n";
  html += "<main id=\"app\"></main>\n";
  html += "<div id=\"qkv-errors\" role=\"alert\" hidden></div>\n";
  html += "<script type=\"application/json\" id=\"qkv-data\">" + escape_json_for_script(page.data_json) +
          "</script>\n<script>\n";
  html += inline_asset("explorer.js", "</script");
  html += "</script>\n<script>\n";
  html += inline_asset(page.script, "</script");
  html += "</script>\n</body>\n</html>\n";
  return html;
}

void check_output_file(const std::string& path, const std::string& what) {
  QKV_CHECK(!path.empty(), what, " is empty; expected a file path such as page.html");
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw FileError(str(what, " is '", path, "', a directory; expected a file path such as ",
                        (fs::path(path) / "page.html").string()));
  const fs::path parent = fs::path(path).has_parent_path() ? fs::path(path).parent_path() : fs::path(".");
  if (!fs::exists(parent, ec))
    throw FileError(str(what, " is '", path, "', but its folder '", parent.string(), "' does not exist"));
  if (!fs::is_directory(parent, ec))
    throw FileError(str(what, " is '", path, "', but '", parent.string(), "' is not a directory"));
  if (::access(parent.c_str(), W_OK) != 0)
    throw FileError(str(what, " is '", path, "', but its folder '", parent.string(),
                        "' is not writable: ", std::strerror(errno)));
  if (fs::exists(path, ec) && ::access(path.c_str(), W_OK) != 0)
    throw FileError(str(what, " is '", path, "', an existing file that is not writable: ", std::strerror(errno)));
}

void write_text_file(const std::string& path, const std::string& text, const std::string& what) {
  check_output_file(path, what);
  try {
    io::write_file_atomically(path, text);
  } catch (const FileError& e) {
    throw FileError(str(what, ": ", e.what()));
  }
}

}  // namespace qkv::pictures
