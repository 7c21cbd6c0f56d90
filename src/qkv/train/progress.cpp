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
  const bool draw_now = interactive_ ? step == steps || std::chrono::steady_clock::now() - last_draw_ >=
                                                            std::chrono::milliseconds(100)
                                     : static_cast<int64_t>(frac * 10) != last_decile_;
  if (!draw_now) return;
  // What both forms print after the epoch: "step/steps loss … acc … rate unit left time".
  char figures[192];
  std::snprintf(figures, sizeof figures, "%lld/%lld loss %.4f acc %.4f %.0f %s left %s", static_cast<long long>(step),
                static_cast<long long>(steps), loss, accuracy, images_per_s, rate_unit_.c_str(),
                format_duration(seconds_left).c_str());
  const std::string epoch_of = "epoch " + std::to_string(epoch) + "/" + std::to_string(epochs);
  if (interactive_) {
    last_draw_ = std::chrono::steady_clock::now();
    const int width = 24;
    const int filled = static_cast<int>(frac * width);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(width - filled), '.');
    out_ << "\r" << epoch_of << " [" << bar << "] " << figures << "   " << std::flush;
    open_line_ = true;
    return;
  }
  const auto decile = static_cast<int64_t>(frac * 10);
  last_decile_ = decile == 10 ? -1 : decile;
  out_ << epoch_of << " step " << figures << "\n" << std::flush;
}

void ProgressBar::line(const std::string& message) {
  if (open_line_) out_ << "\n";
  open_line_ = false;
  out_ << message << "\n" << std::flush;
}

}  // namespace qkv::train
