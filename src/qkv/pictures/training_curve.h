// The curve of a training run as one PNG: accuracy per epoch (train and test) above the loss per
// epoch (train and test), read from the run's metrics.jsonl (train/metrics_file.h). Test figures
// of an EMA run are labelled "test (EMA)".
#pragma once

#include <string>
#include <vector>

#include "qkv/pictures/image.h"
#include "qkv/train/trainer.h"

namespace qkv::pictures {

// Throws qkv::Error for an empty list.
Image render_training_curve(const std::vector<train::EpochMetrics>& epochs, const std::string& title);
// Reads metrics_path (qkv::FileError on a hostile file, naming the line) and writes png_path.
void write_training_curve(const std::string& metrics_path, const std::string& png_path, const std::string& title);

}  // namespace qkv::pictures
