#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "qkv/train/progress.h"

namespace qkv::train {
namespace {

// In a log (not a terminal) the bar prints a plain line as each tenth of the epoch is reached.
TEST(ProgressBar, LogFormPrintsALineAtEachTenthOfTheEpoch) {
  std::ostringstream out;
  ProgressBar bar(out, /*interactive=*/false, /*enabled=*/true, "tok/s");
  for (int64_t step = 1; step <= 20; ++step) bar.update(2, 5, step, 20, 0.5, 0.75, 1234.4, 65.0);
  const std::string text = out.str();
  EXPECT_EQ(text.find("epoch 2/5 step 3/20"), std::string::npos) << text;
  EXPECT_NE(text.find("epoch 2/5 step 2/20 loss 0.5000 acc 0.7500 1234 tok/s left 1:05\n"), std::string::npos) << text;
  EXPECT_NE(text.find("epoch 2/5 step 20/20 loss 0.5000 acc 0.7500 1234 tok/s left 1:05\n"), std::string::npos)
      << text;
  int lines = 0;
  for (char c : text) lines += c == '\n';
  EXPECT_EQ(lines, 11);  // step 1 opens the first tenth; steps 2, 4, ..., 18 the next nine; step 20 ends it
}

// On a terminal it redraws one line in place and always draws the epoch's last step.
TEST(ProgressBar, TerminalFormRedrawsOneLineInPlace) {
  std::ostringstream out;
  ProgressBar bar(out, /*interactive=*/true);
  bar.update(1, 3, 5, 10, 1.25, 0.5, 100.0, 3725.0);
  bar.update(1, 3, 10, 10, 1.0, 0.6, 100.0, 0.0);
  const std::string text = out.str();
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_NE(text.find("\repoch 1/3 [############............] 5/10 loss 1.2500 acc 0.5000 100 img/s left 1:02:05   "),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\repoch 1/3 [########################] 10/10 loss 1.0000 acc 0.6000 100 img/s left 0:00   "),
            std::string::npos)
      << text;
  bar.line("done");
  EXPECT_EQ(out.str().substr(out.str().size() - 6), "\ndone\n");
}

TEST(ProgressBar, DisabledPrintsOnlyLines) {
  std::ostringstream out;
  ProgressBar bar(out, false, /*enabled=*/false);
  bar.update(1, 1, 1, 1, 0.0, 0.0, 0.0, 0.0);
  bar.line("epoch 1/1: summary");
  EXPECT_EQ(out.str(), "epoch 1/1: summary\n");
}

}  // namespace
}  // namespace qkv::train
