// `qkv bench vit`: training throughput (images/s) of the default ViT: warm-up, then timed steps
// of forward + cross-entropy + backward + clipping + AdamW on random images.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.h"
#include "validators.h"
#include "qkv/core/parallel.h"
#include "qkv/core/rng.h"
#include "qkv/models/vit.h"
#include "qkv/train/adamw.h"
#include "qkv/train/cross_entropy.h"
#include "qkv/train/vit_memory.h"
#include "qkv/train/vit_parallel.h"
#include "vit_options.h"

namespace {

struct BenchOptions {
  qkv::models::VitConfig model;
  int64_t batch = 128, steps = 20, warmup = 3;
  bool json = false, profile = false;
};

int run(const BenchOptions& o) {
  using Clock = std::chrono::steady_clock;
  o.model.validate();
  qkv::train::check_vit_memory("bench vit", o.model, o.batch, qkv::num_threads(), true, "--batch");
  qkv::train::VitDataParallel dp(o.model, 1);
  auto params = dp.model().named_parameters();
  qkv::train::AdamW<float> opt(params);
  const int64_t S = o.model.image_size;
  qkv::TensorF x({o.batch, o.model.channels, S, S});
  qkv::Rng rng(7);
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(rng.normal());
  std::vector<int64_t> labels(static_cast<size_t>(o.batch));
  for (auto& y : labels) y = static_cast<int64_t>(rng.below(static_cast<uint64_t>(o.model.classes)));
  double t_fb = 0, t_opt = 0;
  int64_t step_no = 0;
  auto step = [&](bool timed) {
    auto t0 = Clock::now();
    dp.forward_backward(x, labels.data(), static_cast<uint64_t>(++step_no));
    auto t1 = Clock::now();
    qkv::train::clip_grad_norm(params, 1.0);
    opt.step();
    dp.sync();
    auto t2 = Clock::now();
    if (timed) {
      t_fb += std::chrono::duration<double>(t1 - t0).count();
      t_opt += std::chrono::duration<double>(t2 - t1).count();
    }
  };
  for (int64_t i = 0; i < o.warmup; ++i) step(false);
  auto start = Clock::now();
  for (int64_t i = 0; i < o.steps; ++i) step(true);
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  const double ips = static_cast<double>(o.batch * o.steps) / secs;
  if (o.json) {
    nlohmann::json j = {{"images_per_second", ips}, {"steps", o.steps},         {"batch", o.batch},
                        {"seconds", secs},          {"threads", qkv::num_threads()},
                        {"forward_backward_s", t_fb}, {"optimizer_s", t_opt},
                        {"model", nlohmann::json::parse(o.model.to_json())}};
    std::cout << j.dump() << "\n";
  } else {
    std::printf("ViT training (patch %lld, dim %lld, depth %lld, heads %lld, MLP %lld), batch %lld, %d threads\n",
                static_cast<long long>(o.model.patch), static_cast<long long>(o.model.dim),
                static_cast<long long>(o.model.depth), static_cast<long long>(o.model.heads),
                static_cast<long long>(o.model.mlp_hidden), static_cast<long long>(o.batch), qkv::num_threads());
    std::printf("  %lld timed steps in %.3f s: %.0f images/s\n", static_cast<long long>(o.steps), secs, ips);
    std::printf("  per step: forward+backward %.1f ms (data-parallel, %d replicas), clip+AdamW+sync %.1f ms\n",
                1e3 * t_fb / o.steps, dp.replicas(), 1e3 * t_opt / o.steps);
  }
  return 0;
}

qkv::cli::Command reg("bench vit", "Training throughput (images/s) of the default ViT", [](CLI::App& app) -> qkv::cli::Runner {
  auto o = std::make_shared<BenchOptions>();
  qkv::cli::add_vit_model_options(app, o->model);
  app.add_option("--batch", o->batch, "Mini-batch size")->check(qkv::cli::int_in(1, 1000000))->capture_default_str();
  app.add_option("--steps", o->steps, "Timed steps")->check(qkv::cli::int_in(1, 1000000))->capture_default_str();
  app.add_option("--warmup", o->warmup, "Untimed warm-up steps")->check(qkv::cli::int_in(0, 1000000))->capture_default_str();
  app.add_flag("--json", o->json, "Print one JSON object");
  return [o] { return run(*o); };
});

}  // namespace
