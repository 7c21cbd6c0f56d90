#include "qkv/train/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <utility>

namespace qkv::train {

bool is_terminal(const std::ostream& out) {
  if (&out == &std::cerr) return ::isatty(STDERR_FILENO) != 0;
  return &out == &std::cout && ::isatty(STDOUT_FILENO) != 0;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  return buf;
}

ProgressBar::ProgressBar(std::ostream& out, bool interactive, bool enabled, std::string rate_unit)
    : out_(out), interactive_(interactive), enabled_(enabled), rate_unit_(std::move(rate_unit)) {}

void ProgressBar::update(int64_t epoch, int64_t epochs, int64_t step, int64_t steps, double loss, double accuracy,
                         double images_per_s, double seconds_left) {
  if (!enabled_) return;
  const double frac = steps ? static_cast<double>(step) / static_cast<double>(steps) : 1.0;
  char text[256];
  if (interactive_) {
    auto now = std::chrono::steady_clock::now();
    if (step != steps && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    const int width = 24;
    int filled = static_cast<int>(frac * width);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(width - filled), '.');
    std::snprintf(text, sizeof text, "\repoch %lld/%lld [%s] %lld/%lld loss %.4f acc %.4f %.0f %s left %s   ",
                  static_cast<long long>(epoch), static_cast<long long>(epochs), bar.c_str(),
                  static_cast<long long>(step), static_cast<long long>(steps), loss, accuracy, images_per_s, rate_unit_.c_str(),
                  format_duration(seconds_left).c_str());
    out_ << text << std::flush;
    open_line_ = true;
    return;
  }
  const auto decile = static_cast<int64_t>(frac * 10);
  if (decile == last_decile_) return;
  last_decile_ = decile == 10 ? -1 : decile;
  std::snprintf(text, sizeof text, "epoch %lld/%lld step %lld/%lld loss %.4f acc %.4f %.0f %s left %s",
                static_cast<long long>(epoch), static_cast<long long>(epochs), static_cast<long long>(step),
                static_cast<long long>(steps), loss, accuracy, images_per_s, rate_unit_.c_str(), format_duration(seconds_left).c_str());
  out_ << text << "\n" << std::flush;
}

void ProgressBar::line(const std::string& message) {
  if (open_line_) out_ << "\n";
  open_line_ = false;
  out_ << message << "\n" << std::flush;
}

}  // namespace qkv::train
