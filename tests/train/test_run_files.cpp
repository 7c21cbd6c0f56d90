// Crash safety of a training run's files (train/run_files.h) and the strict parsing and bounds
// under it (core/parse.h, core/memory_budget.h, thread counts).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "qkv/core/memory_budget.h"
#include "qkv/core/parallel.h"
#include "qkv/core/parse.h"
#include "qkv/io/safetensors.h"
#include "qkv/train/run_files.h"
#include "qkv/train/vit_trainer.h"

using namespace qkv;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("qkv_run_files_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

std::vector<int64_t> metrics_epochs(const fs::path& file) {
  std::vector<int64_t> epochs;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) epochs.push_back(std::stoll(line.substr(line.find(':') + 1)));
  return epochs;
}

train::VitTrainOptions tiny(const fs::path& out) {
  train::VitTrainOptions o;
  o.model.dim = 16;
  o.model.depth = 1;
  o.model.heads = 2;
  o.model.mlp_hidden = 16;
  o.data_dir = std::string(QKV_FIXTURES_DIR) + "/fashion-mnist-tiny";
  o.out_dir = out.string();
  o.epochs = 3;
  o.batch_size = 50;
  o.limit_train = 100;
  o.limit_test = 50;
  o.progress = false;
  return o;
}

}  // namespace

TEST(Parse, Int64IsStrict) {
  EXPECT_EQ(parse_int64("12"), 12);
  EXPECT_EQ(parse_int64("-5"), -5);
  for (const char* bad : {"", "1xyz", "abc", " 1", "1 ", "+3", "1e3", "99999999999999999999", "0x10"})
    EXPECT_FALSE(parse_int64(bad).has_value()) << bad;
  EXPECT_EQ(parse_double("1e-3"), 1e-3);
  EXPECT_FALSE(parse_double("1.5x").has_value());
}

TEST(Threads, CountsOutsideOneTo1024AreRefused) {
  const int saved = num_threads();
  for (int64_t n : {int64_t{0}, int64_t{-1}, int64_t{1025}, int64_t{100000}, int64_t{99999999999}}) {
    try {
      set_num_threads(n);
      FAIL() << n;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("[1, 1024]"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(std::to_string(n)), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(num_threads(), saved);
}

TEST(MemoryBudget, RefusesAndNamesWhatSizesTheRequest) {
  EXPECT_NO_THROW(check_memory("here", 1e6, "--n"));
  try {
    check_memory("bench attention", 1e15, "--peak-n 100000");
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("bench attention: needs about"), std::string::npos) << m;
    EXPECT_NE(m.find("--peak-n 100000"), std::string::npos) << m;
  }
}

TEST(RunFiles, KeepsEachEpochUpToTheCheckpointOnceAndDropsTornLines) {
  fs::path dir = scratch("keep");
  train::RunFiles files(dir.string());
  std::ofstream(files.metrics()) << "{\"epoch\":1,\"a\":1}\n{\"epoch\":2,\"a\":1}\n{\"epoch\":2,\"a\":2}\n"
                                    "not json\n{\"epoch\":\"3\"}\n{\"epoch\":3}\n{\"epoch\":1,\"a\":2}\n{\"epo";
  std::ostringstream log;
  auto kept = files.keep_metrics_up_to(2, log);
  EXPECT_EQ(kept, (std::vector<std::string>{"{\"epoch\":1,\"a\":2}", "{\"epoch\":2,\"a\":2}"}));
  EXPECT_EQ(metrics_epochs(files.metrics()), (std::vector<int64_t>{1, 2}));
  EXPECT_NE(log.str().find("line 4"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("line 8"), std::string::npos) << log.str();
  fs::remove_all(dir);
}

TEST(RunFiles, CheckpointPositionIsParsedStrictlyAndBounded) {
  io::SafeTensors f;
  auto position_with = [&](const std::string& epoch, const std::string& step) {
    f.metadata["epoch"] = epoch;
    f.metadata["step"] = step;
    return train::checkpoint_position(f, "ck.safetensors", 4, 6);
  };
  EXPECT_EQ(position_with("2", "12").epoch, 2);
  EXPECT_EQ(position_with("0", "0").step, 0);
  for (auto [epoch, step] : std::vector<std::pair<std::string, std::string>>{
           {"-5", "-30"}, {"1xyz", "6"}, {"abc", "0"}, {"5", "30"}, {"2", "11"}, {"2", "12abc"}}) {
    try {
      position_with(epoch, step);
      FAIL() << epoch << " " << step;
    } catch (const FileError& e) {
      EXPECT_NE(std::string(e.what()).find("ck.safetensors"), std::string::npos) << e.what();
    }
  }
}

// Item 8: the metrics line of an epoch is on disk before its checkpoint is written, so no kill
// between the checkpoint's rename and the append can lose it. The checkpoint write is made to
// fail (a directory sits where its temporary file goes); the epoch's line must already be there,
// and the resume still ends with every epoch once and the same model as an uninterrupted run.
TEST(RunFiles, MetricsLineIsWrittenBeforeTheCheckpoint) {
  std::ostringstream log;
  fs::path full = scratch("full"), parts = scratch("parts");
  train::train_vit(tiny(full), log);

  auto o = tiny(parts);
  o.stop_after = 1;
  train::train_vit(o, log);
  const fs::path blocker = parts / ("checkpoint.safetensors.tmp." + std::to_string(::getpid()));
  fs::create_directories(blocker);
  o.resume = true;
  o.stop_after = 0;
  EXPECT_THROW(train::train_vit(o, log), FileError);
  EXPECT_EQ(metrics_epochs(parts / "metrics.jsonl"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(io::read_safetensors((parts / "checkpoint.safetensors").string()).meta("epoch"), "1");

  fs::remove(blocker);
  train::train_vit(o, log);
  EXPECT_EQ(metrics_epochs(parts / "metrics.jsonl"), (std::vector<int64_t>{1, 2, 3}));
  auto a = io::read_safetensors((full / "model.safetensors").string());
  auto b = io::read_safetensors((parts / "model.safetensors").string());
  for (auto& [name, t] : a.tensors) EXPECT_EQ(t.bytes, b.tensors.at(name).bytes) << name;
  fs::remove_all(full);
  fs::remove_all(parts);
}
