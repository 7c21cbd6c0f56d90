#include "qkv/train/run_files.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "qkv/core/error.h"
#include "qkv/core/parse.h"
#include "qkv/io/atomic_file.h"

namespace qkv::train {
namespace {

namespace fs = std::filesystem;

const char* const kRunFiles[] = {"checkpoint.safetensors", "metrics.jsonl", "model.safetensors", "curve.png"};

bool process_gone(int64_t pid) {
  if (pid == ::getpid()) return true;  // ours, from before: nothing writes it now
  if (pid <= 0 || pid > INT32_MAX) return true;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

}  // namespace

RunFiles::RunFiles(std::string dir) : dir_(std::move(dir)) {
  QKV_CHECK(!dir_.empty(), "train_vit: the output directory is ''; expected a path");
  std::error_code ec;
  if (fs::exists(dir_, ec) && !fs::is_directory(dir_, ec))
    throw FileError(str("train_vit: output directory '", dir_, "' exists and is not a directory"));
  fs::create_directories(dir_, ec);
  if (ec || !fs::is_directory(dir_))
    throw FileError(str("train_vit: cannot create the output directory '", dir_, "'", ec ? ": " + ec.message() : ""));
  for (const char* name : kRunFiles) {
    const std::string p = dir_ + "/" + name;
    if (fs::exists(p, ec) && !fs::is_regular_file(p, ec))
      throw FileError(str("train_vit: '", p, "' exists and is not a regular file (a directory?); remove it or use "
                          "another --out"));
  }
}

int RunFiles::remove_stale_temp_files() const {
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    for (const char* run_file : kRunFiles) {
      const std::string prefix = std::string(run_file) + ".tmp.";
      if (name.rfind(prefix, 0) != 0) continue;
      std::string_view suffix = std::string_view(name).substr(prefix.size());  // "<pid>" or "<pid>.<n>" (PNG)
      auto pid = parse_int64(suffix.substr(0, suffix.find('.')));
      if (pid && process_gone(*pid) && entry.is_regular_file(ec) && fs::remove(entry.path(), ec)) ++removed;
    }
  }
  return removed;
}

void RunFiles::start_fresh() const {
  std::error_code ec;
  fs::remove(checkpoint(), ec);
  if (ec) throw FileError(str("train_vit: cannot remove the previous run's '", checkpoint(), "': ", ec.message()));
  io::write_file_atomically(metrics(), "");
}

std::vector<std::string> RunFiles::keep_metrics_up_to(int64_t epoch, std::ostream& log) const {
  std::map<int64_t, std::string> by_epoch;
  std::ifstream in(metrics());
  int64_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("epoch") || !j["epoch"].is_number_integer()) {
      log << "note: " << metrics() << " line " << line_no << " is not a metrics line (torn by a kill?); dropped\n";
      continue;
    }
    const int64_t e = j["epoch"].get<int64_t>();
    if (e >= 1 && e <= epoch) by_epoch[e] = line;
  }
  std::vector<std::string> kept;
  std::string content;
  for (auto& [e, line] : by_epoch) {
    kept.push_back(line);
    content += line + "\n";
  }
  io::write_file_atomically(metrics(), content);
  return kept;
}

void RunFiles::append_metrics(const std::string& line) const { io::append_line_durably(metrics(), line); }

CheckpointPosition checkpoint_position(const io::SafeTensors& file, const std::string& path, int64_t epochs,
                                       int64_t steps_per_epoch) {
  auto fail = [&](const char* key, const std::string& expected) -> FileError {
    const std::string& text = file.metadata.at(key);
    return FileError(str("checkpoint '", path, "': metadata '", key, "' is '", text, "'; expected ", expected));
  };
  for (const char* key : {"epoch", "step"})
    if (!file.metadata.count(key)) throw FileError(str("checkpoint '", path, "': metadata '", key, "' is missing"));
  CheckpointPosition p;
  auto epoch = parse_int64(file.metadata.at("epoch"));
  if (!epoch || *epoch < 0 || *epoch > epochs)
    throw fail("epoch", str("an integer in [0, ", epochs, "] (the run's epochs)"));
  p.epoch = *epoch;
  auto step = parse_int64(file.metadata.at("step"));
  if (!step || *step != p.epoch * steps_per_epoch)
    throw fail("step", str(p.epoch * steps_per_epoch, " (epoch ", p.epoch, " × ", steps_per_epoch, " steps per epoch)"));
  p.step = *step;
  return p;
}

}  // namespace qkv::train
