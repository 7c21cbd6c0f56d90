// A terminal progress bar for training loops: epoch, step, loss, accuracy, images/s, time left.
// On a terminal it redraws one line with '\r' (at most 10 times a second); otherwise (logs, CI)
// it prints a plain line about every 10% of an epoch.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace qkv::train {

class ProgressBar {
 public:
  // interactive: redraw in place (pass isatty of the stream's file descriptor).
  // rate_unit names what images_per_s counts ("img/s", "tok/s").
  ProgressBar(std::ostream& out, bool interactive, bool enabled = true, std::string rate_unit = "img/s");

  void update(int64_t epoch, int64_t epochs, int64_t step, int64_t steps, double loss, double accuracy,
              double images_per_s, double seconds_left);
  // Ends the current line (if any) and prints `message` on its own line (also when disabled:
  // epoch summaries are always shown).
  void line(const std::string& message);

 private:
  std::ostream& out_;
  bool interactive_, enabled_;
  std::string rate_unit_;
  bool open_line_ = false;
  int64_t last_decile_ = -1;
  std::chrono::steady_clock::time_point last_draw_{};
};

// True when `out` is std::cerr or std::cout and that stream is a terminal (redraw in place).
bool is_terminal(const std::ostream& out);

// "1:05" / "12:03:09"
std::string format_duration(double seconds);

}  // namespace qkv::train
