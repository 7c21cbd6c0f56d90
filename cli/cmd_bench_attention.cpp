// `qkv bench attention`: the fused attention kernels over a sweep of (B, H, N, d), causal and
// not — milliseconds, GFLOP/s (forward = 4·B·H·N²·d, halved when causal; backward = 2.5×
// forward) and two fractions of the machine's peak, both measured in the same run: of the
// register-resident FMA loop (qkv/kernels/peak_probe.h; bf16 rows: of the vdpbf16ps loop, "n/a"
// without AVX512-BF16) and of a large product (qkv::kernels::gemm → oneDNN; bf16 rows: oneDNN's
// bf16 matmul). Also the memory bandwidth (a large read and copy), and the peak memory of one
// N = 32768 forward+backward. `--variants` adds the variants beside plain attention and `--decode`
// single-token decoding against cold K/V caches (bench_attention_variants.h); `--no-sweep` leaves
// out the sweep. `--json FILE` writes the same figures as JSON.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_attention_variants.h"
#include "bench_timing.h"
#include "command.h"
#include "validators.h"
#include "qkv/ops/sdpa/sdpa.h"
#include "qkv/core/memory_budget.h"
#include "qkv/core/parallel.h"
#include "qkv/core/rng.h"
#include "qkv/kernels/cpu_info.h"
#include "qkv/ops/sdpa/flash.h"
#include "qkv/kernels/gemm.h"
#include "qkv/kernels/gemm_bf16.h"
#include "qkv/kernels/peak_probe.h"

namespace {

using namespace qkv;
using Clock = std::chrono::steady_clock;
using cli::bench_randn;
using cli::bench_to_bf16;

struct BenchOptions {
  bool quick = false;
  std::vector<int64_t> ns, ds;
  std::string causal = "both";
  int reps = 3;
  int64_t peak_n = 2048;
  bool no_bf16 = false, no_backward = false, no_memory = false;
  int64_t memory_n = 32768;
  int64_t bandwidth_mb = 1024;
  std::string json;
  bool cpu_time = false;
  bool no_sweep = false, variants = false, decode = false;
  std::vector<int64_t> variant_ns{1024, 2048}, decode_lks{4096, 16384};
  int64_t decode_cold_mb = 512;
};

// The --decode section's settings (its figures' fraction is of the read bandwidth, set later).
cli::DecodeBench decode_settings(const BenchOptions& o, const std::vector<int64_t>& ds, int reps) {
  cli::DecodeBench dec;
  dec.lks = o.decode_lks;
  dec.ds = ds;
  dec.reps = std::max(reps, 3);
  dec.bf16 = !o.no_bf16;
  dec.cold_mb = o.decode_cold_mb;
  return dec;
}

double maxrss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// Peak memory of one forward+backward at B = H = 1, N, d = 64 (before anything bigger ran).
nlohmann::json measure_memory(int64_t n) {
  const int64_t d = 64;
  Rng rng(3);
  TensorF q = bench_randn({1, 1, n, d}, rng), k = bench_randn({1, 1, n, d}, rng), v = bench_randn({1, 1, n, d}, rng),
          dout = bench_randn({1, 1, n, d}, rng);
  const double before = maxrss_mb();
  auto t0 = Clock::now();
  auto fwd = sdpa_forward(q, k, v, {}, {}, AttentionBackend::fused);
  auto g = sdpa_backward(dout, q, k, v, fwd, {}, {}, AttentionBackend::fused);
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  const double after = maxrss_mb();
  const double outputs_mb = static_cast<double>(4 * n * d + n) * 4.0 / (1024.0 * 1024.0);
  std::printf("memory: B=1 H=1 N=%lld d=%lld forward+backward in %.0f ms: max RSS %.1f MB -> %.1f MB, extra %.1f MB "
              "(of which %.1f MB are the outputs out, lse, dq, dk, dv; inputs %.1f MB allocated before)\n",
              static_cast<long long>(n), static_cast<long long>(d), ms, before, after, after - before, outputs_mb,
              4.0 * static_cast<double>(n * d) * 4.0 / (1024.0 * 1024.0));
  return {{"N", n}, {"d", d}, {"ms", ms}, {"maxrss_before_mb", before}, {"maxrss_after_mb", after},
          {"extra_mb", after - before}, {"outputs_mb", outputs_mb}};
}

double peak_f32(const cli::BenchClock& clk, int64_t n, int reps) {
  std::vector<float> a(static_cast<size_t>(n * n), 0.5f), b(static_cast<size_t>(n * n), 0.25f),
      c(static_cast<size_t>(n * n));
  const double ms = clk.best_ms(reps, [&] {
    kernels::gemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  });
  return 2.0 * static_cast<double>(n) * n * n / (ms * 1e6);
}

double peak_bf16(const cli::BenchClock& clk, int64_t n, int reps) {
  std::vector<uint16_t> a(static_cast<size_t>(n * n), bf16(0.5f).bits), b(static_cast<size_t>(n * n), bf16(0.25f).bits);
  std::vector<float> c(static_cast<size_t>(n * n));
  const double ms = clk.best_ms(reps, [&] { kernels::gemm_bf16(n, n, n, a.data(), b.data(), c.data()); });
  return 2.0 * static_cast<double>(n) * n * n / (ms * 1e6);
}

// Refuses sizes whose buffers would not fit before allocating them: the peak products (a, b, c
// of n² floats, and the bf16 pair), the memory run (q, k, v, dout, out, dq, dk, dv of N·64) and
// each row of the sweep (the same eight of B·H·N·d, and the bf16 copies).
void check_sizes(const BenchOptions& o, const std::vector<int64_t>& ns, const std::vector<int64_t>& ds) {
  const double pn = static_cast<double>(o.peak_n);
  check_memory("bench attention", (3 * 4 + 2 * 2) * pn * pn, "--peak-n " + std::to_string(o.peak_n));
  check_memory("bench attention", 2.0 * 1024 * 1024 * static_cast<double>(o.bandwidth_mb),
               "--bandwidth-mb " + std::to_string(o.bandwidth_mb));
  if (!o.no_memory && !o.quick)
    check_memory("bench attention", 8 * 4 * 64 * static_cast<double>(o.memory_n),
                 "--memory-n " + std::to_string(o.memory_n));
  if (o.decode)
    check_memory("bench attention", cli::decode_bench_bytes(decode_settings(o, ds, o.reps)),
                 "--decode-lk and --decode-cold-mb " + std::to_string(o.decode_cold_mb));
  for (int64_t n : o.variants ? o.variant_ns : std::vector<int64_t>{})
    for (int64_t d : ds)
      check_memory("bench attention", 12.0 * 4 * 16 * static_cast<double>(n) * static_cast<double>(d),
                   "--variant-n " + std::to_string(n) + " and --d " + std::to_string(d));
  for (int64_t n : o.no_sweep ? std::vector<int64_t>{} : ns)
    for (int64_t d : ds) {
      const double H = static_cast<double>(std::max<int64_t>(1, 8192 / n));
      check_memory("bench attention", (8 * 4 + 4 * 2) * H * static_cast<double>(n) * static_cast<double>(d),
                   "--n " + std::to_string(n) + " and --d " + std::to_string(d));
    }
}

int run(const BenchOptions& o) {
  const cli::BenchClock clk{o.cpu_time};
  std::vector<int64_t> ns = o.ns, ds = o.ds;
  if (ns.empty()) ns = o.quick ? std::vector<int64_t>{256, 1024} : std::vector<int64_t>{128, 256, 512, 1024, 2048, 4096, 8192};
  if (ds.empty()) ds = o.quick ? std::vector<int64_t>{64} : std::vector<int64_t>{64, 128};
  check_sizes(o, ns, ds);
  auto info = kernels::cpu_info();
  std::printf("qkv bench attention: %d threads, SIMD %s, AVX512-BF16 %s, timing by %s\n", num_threads(), info.simd_target.c_str(),
              kernels::flash_bf16_native() ? "yes" : "no (bf16 runs the float32 kernel)",
              o.cpu_time ? "process CPU time / threads" : "wall clock");
  nlohmann::json js;
  js["threads"] = num_threads();
  js["simd_target"] = info.simd_target;
  js["avx512_bf16"] = kernels::flash_bf16_native();
  if (!o.no_memory && !o.quick) js["memory"] = measure_memory(o.memory_n);

  const kernels::PeakFigure fma = kernels::fma_peak(20'000'000, 5, o.cpu_time);
  const kernels::PeakFigure dot = o.no_bf16 ? kernels::PeakFigure{} : kernels::bf16_peak(20'000'000, 5, o.cpu_time);
  std::printf("peak: float32 FMA loop (12 chains of %lld lanes, all threads) %.1f GFLOP/s", static_cast<long long>(kernels::fma_lanes()),
              fma.gflops);
  if (!o.no_bf16) {
    if (dot.available)
      std::printf(", vdpbf16ps loop %.1f GFLOP/s (%.2fx float32)", dot.gflops, dot.gflops / fma.gflops);
    else
      std::printf(", vdpbf16ps loop n/a (no AVX512-BF16)");
  }
  std::printf(" (best of 5)\n");
  const double pf = peak_f32(clk, o.peak_n, 5);
  const double pb = o.no_bf16 ? 0.0 : peak_bf16(clk, o.peak_n, 5);
  std::printf("peak: float32 %lld^3 product (oneDNN) %.1f GFLOP/s (%.1f%% of the FMA loop)",
              static_cast<long long>(o.peak_n), pf, 100 * pf / fma.gflops);
  if (!o.no_bf16) {
    std::printf(", bf16 %.1f GFLOP/s", pb);
    if (dot.available) std::printf(" (%.1f%% of the vdpbf16ps loop)", 100 * pb / dot.gflops);
  }
  std::printf(" (best of 5)\n");
  js["peak_fma_loop_gflops"] = fma.gflops;
  js["peak_bf16_loop_gflops"] = dot.available ? nlohmann::json(dot.gflops) : nlohmann::json(nullptr);
  js["peak_f32_gflops"] = pf;
  js["peak_bf16_gflops"] = pb;
  if (o.bandwidth_mb > 0) {
    const kernels::Bandwidth bw = kernels::memory_bandwidth(o.bandwidth_mb * 1024 * 1024, 5, o.cpu_time);
    std::printf("memory bandwidth (%lld MB, all threads, best of 5): read %.1f GB/s, copy %.1f GB/s (read + write)\n",
                static_cast<long long>(o.bandwidth_mb), bw.read_gbs, bw.copy_gbs);
    js["bandwidth_read_gbs"] = bw.read_gbs;
    js["bandwidth_copy_gbs"] = bw.copy_gbs;
  }
  // A bf16 row's fraction of the vdpbf16ps loop, or "n/a" without one.
  auto of_dot = [&](double gf) {
    char buf[16];
    if (dot.available) std::snprintf(buf, sizeof buf, "%5.1f%%", 100 * gf / dot.gflops);
    else std::snprintf(buf, sizeof buf, "%6s", "n/a");
    return std::string(buf);
  };

  const int reps = o.quick ? 1 : o.reps;
  if (o.variants) {
    cli::VariantBench var;
    var.ns = o.variant_ns;
    var.ds = ds;
    var.reps = reps;
    var.backward = !o.no_backward;
    var.fma_gflops = fma.gflops;
    js["variants"] = cli::bench_attention_variants(clk, var);
  }
  if (o.decode) {
    cli::DecodeBench dec = decode_settings(o, ds, reps);
    dec.read_gbs = js.value("bandwidth_read_gbs", 0.0);
    js["decode"] = cli::bench_attention_decode(clk, dec);
  }

  std::vector<bool> causals;
  if (o.causal != "yes" && !o.no_sweep) causals.push_back(false);
  if (o.causal != "no" && !o.no_sweep) causals.push_back(true);

  if (!o.no_sweep)
    std::printf("%% of peak: fma = of the FMA loop, dnn = of oneDNN's product; bf16 columns: of the vdpbf16ps loop and "
                "oneDNN's bf16 product\n"
                "%3s %4s %5s %4s %6s | %8s %7s %6s %6s | %8s %7s %6s %6s | %8s %7s %6s %6s %6s | %8s %7s %6s %6s | %8s\n",
                "B", "H", "N", "d", "causal", "fwd ms", "GFLOP/s", "%fma", "%dnn", "bwd ms", "GFLOP/s", "%fma", "%dnn",
                "bf16 fwd", "GFLOP/s", "%bf16", "%dnn", "x f32", "bf16 bwd", "GFLOP/s", "%bf16", "x f32", "f+b GF/s");
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t d : ds)
    for (int64_t n : ns)
      for (bool causal : causals) {
        const int64_t B = 1, H = std::max<int64_t>(1, 8192 / n);
        Rng rng(static_cast<uint64_t>(n * 131 + d));
        TensorF q = bench_randn({B, H, n, d}, rng), k = bench_randn({B, H, n, d}, rng), v = bench_randn({B, H, n, d}, rng),
                dout = bench_randn({B, H, n, d}, rng);
        AttentionMask mask;
        if (causal) mask.causal = Causal::top_left;
        const double flops = 4.0 * B * H * static_cast<double>(n) * n * d * (causal ? 0.5 : 1.0);
        // The *_into calls reuse their results' buffers, as a training step does: steady-state
        // calls allocate nothing, so small problems time the kernels, not fresh pages.
        SdpaForward<float> fwd;
        SdpaGrads<float> grads;
        const double fwd_ms =
            clk.best_ms(reps, [&] { sdpa_forward_into(q, k, v, mask, {}, fwd, AttentionBackend::fused); });
        double bwd_ms = 0;
        if (!o.no_backward)
          bwd_ms = clk.best_ms(
              reps, [&] { sdpa_backward_into(dout, q, k, v, fwd, mask, {}, grads, AttentionBackend::fused); });
        double bf_ms = 0, bfb_ms = 0;
        if (!o.no_bf16) {
          Tensor<bf16> qb = bench_to_bf16(q), kb = bench_to_bf16(k), vb = bench_to_bf16(v);
          SdpaForward<float> bfwd;
          bf_ms = clk.best_ms(reps, [&] { sdpa_forward_into(qb, kb, vb, mask, {}, bfwd); });
          if (!o.no_backward)
            bfb_ms = clk.best_ms(reps, [&] { sdpa_backward_into(dout, qb, kb, vb, bfwd, mask, {}, grads); });
        }
        const double fgf = flops / (fwd_ms * 1e6), bgf = bwd_ms > 0 ? 2.5 * flops / (bwd_ms * 1e6) : 0.0;
        const double bfgf = bf_ms > 0 ? flops / (bf_ms * 1e6) : 0.0;
        const double bfbgf = bfb_ms > 0 ? 2.5 * flops / (bfb_ms * 1e6) : 0.0;
        const double fbgf = bwd_ms > 0 ? 3.5 * flops / ((fwd_ms + bwd_ms) * 1e6) : 0.0;
        std::printf("%3lld %4lld %5lld %4lld %6s | %8.3f %7.1f %5.1f%% %5.1f%% | %8.3f %7.1f %5.1f%% %5.1f%% | "
                    "%8.3f %7.1f %s %5.1f%% %5.2fx | %8.3f %7.1f %s %5.2fx | %8.1f\n",
                    static_cast<long long>(B), static_cast<long long>(H), static_cast<long long>(n),
                    static_cast<long long>(d), causal ? "yes" : "no", fwd_ms, fgf, 100 * fgf / fma.gflops,
                    100 * fgf / pf, bwd_ms, bgf, 100 * bgf / fma.gflops, 100 * bgf / pf, bf_ms, bfgf,
                    of_dot(bfgf).c_str(), pb > 0 ? 100 * bfgf / pb : 0.0, bfgf > 0 ? bfgf / fgf : 0.0, bfb_ms, bfbgf,
                    of_dot(bfbgf).c_str(), bgf > 0 ? bfbgf / bgf : 0.0, fbgf);
        std::fflush(stdout);
        auto frac_dot = [&](double gf) {
          return dot.available ? nlohmann::json(gf / dot.gflops) : nlohmann::json(nullptr);
        };
        rows.push_back({{"B", B}, {"H", H}, {"N", n}, {"d", d}, {"causal", causal}, {"fwd_ms", fwd_ms},
                        {"fwd_gflops", fgf}, {"fwd_frac_fma", fgf / fma.gflops}, {"fwd_frac_peak", fgf / pf},
                        {"bwd_ms", bwd_ms}, {"bwd_gflops", bgf}, {"bwd_frac_fma", bgf / fma.gflops},
                        {"bwd_frac_peak", bgf / pf}, {"bf16_fwd_ms", bf_ms}, {"bf16_fwd_gflops", bfgf},
                        {"bf16_fwd_frac_bf16_loop", frac_dot(bfgf)}, {"bf16_over_f32", bfgf > 0 ? bfgf / fgf : 0.0},
                        {"bf16_bwd_ms", bfb_ms}, {"bf16_bwd_gflops", bfbgf},
                        {"bf16_bwd_frac_bf16_loop", frac_dot(bfbgf)},
                        {"bf16_bwd_over_f32", bgf > 0 ? bfbgf / bgf : 0.0}, {"fwdbwd_gflops", fbgf}});
      }
  js["rows"] = rows;
  if (!o.json.empty()) {
    std::ofstream f(o.json);
    QKV_CHECK(f.good(), "bench attention: cannot write --json file '", o.json, "'");
    f << js.dump(2) << "\n";
    std::printf("wrote %s\n", o.json.c_str());
  }
  return 0;
}

qkv::cli::Command reg(
    "bench attention",
    "Fused attention forward/backward (float32, bf16): ms, GFLOP/s and fraction of the measured GEMM peak",
    [](CLI::App& app) -> qkv::cli::Runner {
      auto o = std::make_shared<BenchOptions>();
      app.add_flag("--quick", o->quick, "Small sweep (N 256, 1024; d 64; one repetition; no memory run)");
      app.add_option("--n", o->ns, "Sequence lengths (default 128 256 512 1024 2048 4096 8192)")
          ->check(qkv::cli::int_in(1, 1 << 20));
      app.add_option("--d", o->ds, "Head dims (default 64 128)")->check(qkv::cli::int_in(1, 1024));
      app.add_option("--causal", o->causal, "both, yes or no")->check(CLI::IsMember({"both", "yes", "no"}));
      app.add_option("--reps", o->reps, "Timed repetitions per row after one warm-up; the best is reported")
          ->check(qkv::cli::int_in(1, 1000));
      app.add_option("--peak-n", o->peak_n, "Size of the square products that measure the peak")
          ->check(qkv::cli::int_in(1, 65536));
      app.add_flag("--no-bf16", o->no_bf16, "Skip the bf16 forward, backward and peaks");
      app.add_flag("--no-backward", o->no_backward, "Skip the backward");
      app.add_flag("--no-memory", o->no_memory, "Skip the peak-memory run");
      app.add_option("--bandwidth-mb", o->bandwidth_mb,
                     "Buffer size of the memory-bandwidth probe in MB (two buffers; 0 skips it)")
          ->check(qkv::cli::int_in(0, 1 << 16));
      app.add_option("--memory-n", o->memory_n, "Sequence length of the peak-memory run")
          ->check(qkv::cli::int_in(1, 1 << 24));
      app.add_flag("--cpu-time", o->cpu_time,
                   "Time by process CPU time / threads instead of wall clock (for machines shared with other jobs)");
      app.add_flag("--variants", o->variants,
                   "Also time the variants (GQA, causal, window, ALiBi, softcap) beside plain attention, B=2 H=8, "
                   "N from --variant-n, d from --d");
      app.add_option("--variant-n", o->variant_ns, "Sequence lengths of the --variants rows (default 1024 2048)")
          ->check(qkv::cli::int_in(1, 1 << 16));
      app.add_flag("--decode", o->decode,
                   "Also time single-token decoding (Lq = 1) against cold K/V caches of --decode-lk keys: GB/s of K and "
                   "V read and the fraction of the memory bandwidth");
      app.add_option("--decode-lk", o->decode_lks, "Cache lengths of the --decode rows (default 4096 16384)")
          ->check(qkv::cli::int_in(1, 1 << 22));
      app.add_option("--decode-cold-mb", o->decode_cold_mb,
                     "MB of K/V copies each --decode row cycles through, so the caches come from memory (default 512)")
          ->check(qkv::cli::int_in(1, 1 << 16));
      app.add_flag("--no-sweep", o->no_sweep, "Skip the plain sweep over --n (e.g. only --variants or --decode)");
      app.add_option("--json", o->json, "Also write the figures to this JSON file")->check(qkv::cli::non_empty());
      return [o] { return run(*o); };
    });

}  // namespace
