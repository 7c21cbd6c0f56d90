// The files of a training run directory and their crash-safe life cycle (used by train_vit).
//
//   <out>/checkpoint.safetensors   weights, AdamW state, epoch and step; atomic (io/safetensors.h)
//   <out>/metrics.jsonl            one JSON line per finished epoch
//   <out>/model.safetensors        the final weights
//   <out>/curve.png                accuracy and loss per epoch (drawn by `qkv train` at the end)
//
// Every epoch appends its metrics line (fsync) BEFORE its checkpoint is renamed into place, so
// after a kill at any moment metrics.jsonl holds every epoch up to the checkpoint's exactly once,
// plus at most the next one (whose checkpoint did not land). --resume keeps the lines with
// epoch <= the checkpoint's, one per epoch, rewritten atomically (temp, fsync, rename): a kill
// during that rewrite leaves the old file whole. Temporary files "<name>.tmp.<pid>" (PNG:
// "<name>.tmp.<pid>.<n>") of killed runs are removed on start and on resume.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "qkv/io/safetensors.h"

namespace qkv::train {

class RunFiles {
 public:
  // Creates `dir` if needed. Throws qkv::FileError when `dir` or one of the run's files exists
  // but is not what it should be (a file for the directory, a directory for metrics.jsonl, ...).
  explicit RunFiles(std::string dir);

  std::string checkpoint() const { return dir_ + "/checkpoint.safetensors"; }
  std::string metrics() const { return dir_ + "/metrics.jsonl"; }
  std::string model() const { return dir_ + "/model.safetensors"; }

  // Removes "<run file>.tmp.<pid>" of processes that no longer run; returns how many.
  int remove_stale_temp_files() const;
  // A new run: removes the previous run's checkpoint, then empties metrics.jsonl atomically.
  void start_fresh() const;
  // Resume at `epoch`: keeps the lines with 1 <= epoch <= `epoch`, the last one of each epoch, in
  // epoch order, and rewrites metrics.jsonl atomically. Lines that are not a JSON object with an
  // integer "epoch" (a torn last line) are dropped with a note on `log`. Returns the kept lines.
  std::vector<std::string> keep_metrics_up_to(int64_t epoch, std::ostream& log) const;
  // One line, durably (fsync), before the checkpoint of that epoch is written.
  void append_metrics(const std::string& line) const;

 private:
  std::string dir_;
};

struct CheckpointPosition {
  int64_t epoch = 0, step = 0;
};

// The "epoch" and "step" metadata of a training checkpoint, parsed strictly (no "1xyz", no
// overflow) and checked: 0 <= epoch <= epochs and step == epoch × steps_per_epoch. Throws
// qkv::FileError naming the file, the key, the value and what was expected.
CheckpointPosition checkpoint_position(const io::SafeTensors& file, const std::string& path, int64_t epochs,
                                       int64_t steps_per_epoch);

}  // namespace qkv::train
