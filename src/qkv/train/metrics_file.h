// Reading a run's metrics.jsonl back (train/run_files.h writes it, one EpochMetrics::to_json line
// per finished epoch), strictly, for pictures and reports of a finished or running run.
//
// Every non-empty line must be a JSON object with an integer "epoch" >= 1, one greater than the
// previous line's, and finite numbers "train_loss" and "train_accuracy" (accuracies in [0, 1]);
// "test_loss" and "test_accuracy" are optional but come together and finite; "test_weights":
// "ema" marks EMA figures. Anything else throws qkv::FileError naming the file, the line number,
// the key and what was expected. At most 64 MiB.
#pragma once

#include <string>
#include <vector>

#include "qkv/train/trainer.h"

namespace qkv::train {

std::vector<EpochMetrics> read_metrics(const std::string& path);

}  // namespace qkv::train
