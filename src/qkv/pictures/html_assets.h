// The explorer's page templates (src/qkv/explorer/: stylesheet, shared script, one script per
// page), embedded into the library at build time by cmake/embed_assets.cmake.
#pragma once

#include <span>
#include <string_view>

namespace qkv::pictures {

struct HtmlAsset {
  std::string_view name;  // file name in src/qkv/explorer/, e.g. "explain.js"
  std::string_view text;
};

// Every embedded file (defined in the generated explorer_assets.cpp).
std::span<const HtmlAsset> html_assets();

// The text of one embedded file; throws qkv::Error naming the known files when it is missing.
std::string_view html_asset(std::string_view name);

}  // namespace qkv::pictures
