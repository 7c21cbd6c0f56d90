// The explorer's page shell and page data (io/html_page.h, demos/*_page.h): JSON that cannot end
// its <script> element early and parses back to the same value, templates embedded in the
// binary, output paths checked before the work with messages that name the option, and page data
// that hold the demos' own numbers. The pages' behaviour in a browser is tested by tests/explorer.
#include <gtest/gtest.h>

#include "temp_dir.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "gradcheck.h"
#include "qkv/core/error.h"
#include "qkv/demos/explain.h"
#include "qkv/demos/explain_page.h"
#include "qkv/demos/nw_page.h"
#include "qkv/demos/seq2seq_page.h"
#include "qkv/pictures/html_assets.h"
#include "qkv/pictures/html_page.h"

namespace fs = std::filesystem;
using namespace qkv;

namespace {

// The text between <script type="application/json" id="qkv-data"> and its </script>.
std::string embedded_json(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"qkv-data\">";
  size_t a = html.find(open);
  EXPECT_NE(a, std::string::npos);
  a += open.size();
  return html.substr(a, html.find("</script>", a) - a);
}

}  // namespace

TEST(HtmlPage, JsonEscapingKeepsTheValueAndCannotCloseTheScript) {
  nlohmann::json j = {{"token", "</script><script>alert(1)</script>"}, {"cjk", "早上好"},
                      {"amp", "a&b <!-- x -->"}, {"sep", "a\u2028b\u2029c"}};
  std::string escaped = pictures::escape_json_for_script(j.dump());
  EXPECT_EQ(escaped.find('<'), std::string::npos);
  EXPECT_EQ(escaped.find('>'), std::string::npos);
  EXPECT_EQ(escaped.find("\u2028"), std::string::npos);
  EXPECT_NE(escaped.find("早上好"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(escaped), j);
}

TEST(HtmlPage, RenderedPageEmbedsTemplatesDataAndAPolicy) {
  std::string html = pictures::render_html_page(
      {.title = "a <b> & c", .script = "explain.js", .data_json = R"({"x": "</script>"})"});
  EXPECT_EQ(html.rfind("<!doctype html>", 0), 0u);
  EXPECT_NE(html.find("<title>a &lt;b&gt; &amp; c</title>"), std::string::npos);
  EXPECT_NE(html.find("Content-Security-Policy"), std::string::npos);
  EXPECT_NE(html.find(std::string(pictures::html_asset("explorer.js"))), std::string::npos);
  EXPECT_NE(html.find(std::string(pictures::html_asset("explain.js"))), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(embedded_json(html)).at("x"), "</script>");
  // Every page script the demos name is embedded.
  for (const char* name : {"explorer.css", "explorer.js", "explain.js", "nw.js", "seq2seq.js", "vit.js"})
    EXPECT_GT(pictures::html_asset(name).size(), 500u) << name;
  std::string missing = test::error_message_of([] { pictures::html_asset("nope.js"); });
  EXPECT_NE(missing.find("'nope.js'"), std::string::npos) << missing;
  EXPECT_NE(missing.find("explain.js"), std::string::npos) << missing;
  std::string not_object = test::error_message_of([] { pictures::render_html_page({.title = "t", .script = "nw.js", .data_json = "[1]"}); });
  EXPECT_NE(not_object.find("expected a JSON object"), std::string::npos) << not_object;
}

TEST(HtmlPage, OutputPathsAreCheckedWithMessagesThatNameTheOption) {
  fs::path dir = qkv::test::temp_dir("html_paths");
  std::ofstream(dir / "plain") << "x";
  const std::string what = "qkv nw: --html";
  auto check = [&](const fs::path& p) { return test::error_message_of([&] { pictures::check_output_file(p.string(), what); }); };
  std::string is_dir = check(dir);
  EXPECT_NE(is_dir.find("qkv nw: --html is '" + dir.string() + "', a directory; expected a file path"),
            std::string::npos) << is_dir;
  EXPECT_NE(check(dir / "no" / "p.html").find("does not exist"), std::string::npos);
  EXPECT_NE(check(dir / "plain" / "p.html").find("is not a directory"), std::string::npos);
  EXPECT_NE(test::error_message_of([&] { pictures::check_output_file("", what); }).find("is empty"), std::string::npos);
  EXPECT_NO_THROW(pictures::check_output_file((dir / "plain").string(), what));  // an existing file is replaced
  fs::remove_all(dir);
}

TEST(HtmlPage, WriteReplacesTheFileAtomically) {
  fs::path dir = qkv::test::temp_dir("html_write");
  fs::path p = dir / "page.html";
  pictures::write_text_file(p.string(), "first", "test");
  pictures::write_text_file(p.string(), "second", "test");
  std::stringstream ss;
  ss << std::ifstream(p).rdbuf();
  EXPECT_EQ(ss.str(), "second");
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) entries += e.path().filename() != "page.html";
  EXPECT_EQ(entries, 0) << "a temporary file was left beside the page";
  fs::remove_all(dir);
}

TEST(HtmlPage, ExplainPageDataHoldTheDemoNumbers) {
  demos::ExplainOptions o;
  o.variance_samples = 64;
  std::ostringstream log;
  demos::ExplainResult r = demos::run_explain(o, log);
  std::string html = demos::explain_page_html(r);
  EXPECT_LT(html.size(), 300000u);
  nlohmann::json j = nlohmann::json::parse(embedded_json(html));
  EXPECT_EQ(j["tokens"], (std::vector<std::string>{"早", "上", "好"}));
  ASSERT_EQ(j["A"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    double sum = 0;
    for (int k = 0; k < 3; ++k) {
      EXPECT_NEAR(j["A"][i][k].get<double>(), r.weights.at({i, k}), 1e-6);
      sum += j["A"][i][k].get<double>();
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  EXPECT_EQ(j["mha"]["heads"], 8);
  EXPECT_EQ(j["mha"]["head_dim"], 3);
  EXPECT_EQ(j["mha"]["w_o"].size(), 24u);
  EXPECT_EQ(j["mha"]["concat"][0].size(), 24u);
  EXPECT_EQ(j["d_k"], 4);
}

TEST(HtmlPage, NwPageDataHoldTheFit) {
  demos::NwOptions o;
  o.epochs = 3;
  std::ostringstream log;
  demos::NwResult r = demos::run_nw(o, log);
  nlohmann::json j = nlohmann::json::parse(demos::nw_page_json(r, o));
  EXPECT_NEAR(j["w"].get<double>(), r.w, 1e-6);
  ASSERT_EQ(j["x_train"].size(), 50u);
  EXPECT_NEAR(j["pred_parametric"][7].get<double>(), r.pred_parametric[7], 1e-6);
  EXPECT_EQ(j["truth_x"].size(), 201u);
}

TEST(HtmlPage, Seq2SeqPageRejectsWeightsOfTheWrongShape) {
  demos::Translation t;
  t.input = "3 May";
  t.output = "x";
  t.in_chars = {"3", " ", "M", "a", "y"};
  t.out_chars = {"x"};
  t.weights = TensorF({1, 4});
  std::string m = test::error_message_of([&] { demos::seq2seq_page_json({t}); });
  EXPECT_NE(m.find("have shape (1, 4); expected (1, 5)"), std::string::npos) << m;
  EXPECT_NE(test::error_message_of([] { demos::seq2seq_page_json({}); }).find("'examples' is empty"), std::string::npos);
  t.weights = TensorF({1, 5});
  nlohmann::json j = nlohmann::json::parse(demos::seq2seq_page_json({t}));
  EXPECT_EQ(j["examples"][0]["attention"][0][0][0].size(), 5u);  // (layer, head, output, input)
}
