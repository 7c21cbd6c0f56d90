// `qkv bench attention --variants` and `--decode`: see bench_attention_variants.h.
#include "bench_attention_variants.h"

#include <cmath>
#include <cstdio>
#include <string>

#include "qkv/ops/sdpa/sdpa.h"

namespace qkv::cli {
namespace {

struct Variant {
  const char* name;
  int64_t kv_div = 1;  // Hkv = H / kv_div
  bool causal = false, window = false, alibi = false, softcap = false;
};

// Query-key pairs a row sees, summed over the N rows (Lq = Lk = N): the FLOPs' area.
double visible_pairs(int64_t N, bool causal, int64_t window_left) {
  double pairs = 0;
  for (int64_t i = 0; i < N; ++i) {
    const int64_t lo = window_left >= 0 ? std::max<int64_t>(0, i - window_left) : 0, hi = causal ? i + 1 : N;
    pairs += static_cast<double>(hi - lo);
  }
  return pairs;
}

std::string ratio_str(double x) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%5.2fx", x);
  return buf;
}

}  // namespace

nlohmann::json bench_attention_variants(const BenchClock& clock, const VariantBench& o) {
  const Variant variants[] = {{"plain"},
                              {"gqa H/4", 4},
                              {"causal", 1, true},
                              {"window", 1, true, true},
                              {"alibi", 1, false, false, true},
                              {"softcap", 1, false, false, false, true}};
  const int64_t B = o.B, H = o.H;
  std::printf("variants (float32, fused): B=%lld H=%lld; window = causal + window (%lld, 0); softcap %.0f; ALiBi "
              "slopes 2^(-8(h+1)/H); GFLOP/s on the visible pairs; x plain = of plain attention's GFLOP/s, same N, d\n",
              static_cast<long long>(B), static_cast<long long>(H), static_cast<long long>(o.window_left), o.softcap);
  std::printf("%5s %4s %-8s %4s | %8s %7s %6s %7s | %8s %7s %6s %7s\n", "N", "d", "variant", "Hkv", "fwd ms",
              "GFLOP/s", "%fma", "x plain", "bwd ms", "GFLOP/s", "%fma", "x plain");
  TensorF slopes({H});
  for (int64_t h = 0; h < H; ++h) slopes[h] = static_cast<float>(std::exp2(-8.0 * static_cast<double>(h + 1) / H));
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t d : o.ds)
    for (int64_t n : o.ns) {
      Rng rng(static_cast<uint64_t>(n * 7 + d));
      const TensorF q = bench_randn({B, H, n, d}, rng), dout = bench_randn({B, H, n, d}, rng);
      double plain_f = 0, plain_b = 0;
      for (const Variant& var : variants) {
        const int64_t Hkv = H / var.kv_div;
        const TensorF k = bench_randn({B, Hkv, n, d}, rng), v = bench_randn({B, Hkv, n, d}, rng);
        AttentionMask mask;
        if (var.causal) mask.causal = Causal::top_left;
        SdpaOptions opt;
        opt.enable_gqa = Hkv != H;
        if (var.window) {
          opt.window_left = o.window_left;
          opt.window_right = 0;
        }
        if (var.alibi) opt.alibi_slopes = slopes;
        if (var.softcap) opt.softcap = o.softcap;
        const double flops = 4.0 * static_cast<double>(B * H * d) *
                             visible_pairs(n, var.causal, var.window ? o.window_left : -1);
        SdpaForward<float> fwd;
        SdpaGrads<float> grads;
        const double fms = clock.best_ms(
            o.reps, [&] { sdpa_forward_into(q, k, v, mask, opt, fwd, AttentionBackend::fused); });
        double bms = 0;
        if (o.backward)
          bms = clock.best_ms(o.reps, [&] {
            sdpa_backward_into(dout, q, k, v, fwd, mask, opt, grads, AttentionBackend::fused);
          });
        const double fgf = flops / (fms * 1e6), bgf = bms > 0 ? 2.5 * flops / (bms * 1e6) : 0.0;
        if (var.kv_div == 1 && !var.causal && !var.alibi && !var.softcap) {
          plain_f = fgf;
          plain_b = bgf;
        }
        const double fr = fgf / plain_f, br = plain_b > 0 ? bgf / plain_b : 0.0;
        std::printf("%5lld %4lld %-8s %4lld | %8.3f %7.1f %5.1f%% %7s | %8.3f %7.1f %5.1f%% %7s\n",
                    static_cast<long long>(n), static_cast<long long>(d), var.name, static_cast<long long>(Hkv), fms,
                    fgf, 100 * fgf / o.fma_gflops, ratio_str(fr).c_str(), bms, bgf, 100 * bgf / o.fma_gflops,
                    ratio_str(br).c_str());
        std::fflush(stdout);
        rows.push_back({{"variant", var.name}, {"B", B}, {"H", H}, {"Hkv", Hkv}, {"N", n}, {"d", d},
                        {"flops", flops}, {"fwd_ms", fms}, {"fwd_gflops", fgf}, {"fwd_over_plain", fr},
                        {"fwd_frac_fma", fgf / o.fma_gflops}, {"bwd_ms", bms}, {"bwd_gflops", bgf},
                        {"bwd_over_plain", br}, {"bwd_frac_fma", bgf / o.fma_gflops}});
      }
    }
  return rows;
}

namespace {

struct DecodeLayout {
  int64_t B, H, Hkv;
};
constexpr DecodeLayout kDecodeLayouts[] = {{1, 8, 8}, {1, 32, 8}, {1, 1, 1}};

// Copies of K and V (B, Hkv, Lk, d) filling about cold_mb (at least one), all with the same values.
template <typename T>
int64_t cold_copies(const DecodeBench& o, const DecodeLayout& lay, int64_t lk, int64_t d) {
  const double kv = 2.0 * static_cast<double>(lay.B * lay.Hkv * lk * d) * sizeof(T);
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(static_cast<double>(o.cold_mb) * 1048576.0 / kv)));
}

// Per-call ms of sdpa_forward over `copies` K/V caches (one timed pass over all of them).
template <typename T>
double decode_ms(const BenchClock& clock, int reps, const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                 int64_t copies, const SdpaOptions& opt) {
  std::vector<Tensor<T>> ks, vs;
  for (int64_t c = 0; c < copies; ++c) {
    ks.push_back(k.clone());
    vs.push_back(v.clone());
  }
  SdpaForward<sdpa_result_t<T>> fwd;
  const double ms = clock.best_ms(reps, [&] {
    for (int64_t c = 0; c < copies; ++c)
      sdpa_forward_into(q, ks[static_cast<size_t>(c)], vs[static_cast<size_t>(c)], {}, opt, fwd);
  });
  return ms / static_cast<double>(copies);
}

}  // namespace

double decode_bench_bytes(const DecodeBench& o) {
  double most = 0;
  for (int64_t lk : o.lks)
    for (int64_t d : o.ds)
      for (const DecodeLayout& lay : kDecodeLayouts) {
        const double kv = 2.0 * static_cast<double>(lay.B * lay.Hkv * lk * d) * 4.0;
        most = std::max(most, kv * static_cast<double>(cold_copies<float>(o, lay, lk, d) + 1));
      }
  return most;
}

nlohmann::json bench_attention_decode(const BenchClock& clock, const DecodeBench& o) {
  std::printf("decode: Lq = 1 against Lk cached keys (dv = d), K/V cold (cycling through %lld MB of copies); GB/s = "
              "bytes of K and V read per second; %%bw = of the memory read bandwidth above\n",
              static_cast<long long>(o.cold_mb));
  std::printf("%6s %4s %3s %4s %4s | %8s %7s %6s | %8s %7s %6s\n", "Lk", "d", "B", "H", "Hkv", "f32 us", "GB/s",
              "%bw", "bf16 us", "GB/s", "%bw");
  auto frac = [&](double gbs) {
    char buf[16];
    if (o.read_gbs > 0) std::snprintf(buf, sizeof buf, "%5.1f%%", 100 * gbs / o.read_gbs);
    else std::snprintf(buf, sizeof buf, "%6s", "n/a");
    return std::string(buf);
  };
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t d : o.ds)
    for (int64_t lk : o.lks)
      for (const DecodeLayout& lay : kDecodeLayouts) {
        Rng rng(static_cast<uint64_t>(lk + d));
        const TensorF q = bench_randn({lay.B, lay.H, 1, d}, rng), k = bench_randn({lay.B, lay.Hkv, lk, d}, rng),
                      v = bench_randn({lay.B, lay.Hkv, lk, d}, rng);
        SdpaOptions opt;
        opt.enable_gqa = lay.Hkv != lay.H;
        const double elems = 2.0 * static_cast<double>(lay.B * lay.Hkv * lk * d);
        const double fms = decode_ms(clock, o.reps, q, k, v, cold_copies<float>(o, lay, lk, d), opt);
        const double fgbs = elems * 4.0 / (fms * 1e6);
        double bms = 0, bgbs = 0;
        if (o.bf16) {
          bms = decode_ms(clock, o.reps, bench_to_bf16(q), bench_to_bf16(k), bench_to_bf16(v),
                          cold_copies<bf16>(o, lay, lk, d), opt);
          bgbs = elems * 2.0 / (bms * 1e6);
        }
        std::printf("%6lld %4lld %3lld %4lld %4lld | %8.1f %7.1f %s | %8.1f %7.1f %s\n", static_cast<long long>(lk),
                    static_cast<long long>(d), static_cast<long long>(lay.B), static_cast<long long>(lay.H),
                    static_cast<long long>(lay.Hkv), fms * 1e3, fgbs, frac(fgbs).c_str(), bms * 1e3, bgbs,
                    o.bf16 ? frac(bgbs).c_str() : "   n/a");
        std::fflush(stdout);
        auto of_bw = [&](double gbs) {
          return o.read_gbs > 0 ? nlohmann::json(gbs / o.read_gbs) : nlohmann::json(nullptr);
        };
        rows.push_back({{"Lk", lk}, {"d", d}, {"B", lay.B}, {"H", lay.H}, {"Hkv", lay.Hkv}, {"f32_us", fms * 1e3},
                        {"f32_gbs", fgbs}, {"f32_frac_bw", of_bw(fgbs)}, {"bf16_us", bms * 1e3},
                        {"bf16_gbs", bgbs}, {"bf16_frac_bw", o.bf16 ? of_bw(bgbs) : nlohmann::json(nullptr)}});
      }
  return rows;
}

}  // namespace qkv::cli
