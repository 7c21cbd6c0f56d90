#include "qkv/train/transformer_trainer.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "qkv/train/checkpoint.h"
#include "qkv/train/cross_entropy.h"
#include "qkv/train/trainer.h"

namespace qkv::train {
namespace {

using Model = models::TransformerSeq2Seq<float>;

class TransformerTask final : public TrainTask {
 public:
  TransformerTask(DataParallel<Model>& dp, const TransformerTrainOptions& o, const SequenceSplits& data,
                  const Scorer& scorer, std::ostream& log)
      : dp_(dp), o_(o), data_(data), scorer_(scorer), log_(log), dlogits_(static_cast<size_t>(dp.replicas())) {}

  nn::Module<float>& model() override { return dp_.model(); }
  void parameters_changed() override { dp_.sync(); }

  int64_t steps_per_epoch() const {
    return (static_cast<int64_t>(data_.train.size()) + o_.batch - 1) / o_.batch;
  }

  void begin_epoch(int64_t epoch) override {
    const int64_t n = static_cast<int64_t>(data_.train.size());
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    Rng rng(o_.seed * 7919 + static_cast<uint64_t>(epoch) + 1);
    shuffle(order, rng);
    const int64_t chunk = o_.batch * 64;
    for (int64_t c = 0; c < n; c += chunk) {
      auto first = order.begin() + c, last = order.begin() + std::min(n, c + chunk);
      std::stable_sort(first, last, [&](int64_t a, int64_t b) {
        return data_.train[static_cast<size_t>(a)].src.size() < data_.train[static_cast<size_t>(b)].src.size();
      });
    }
    batches_.clear();
    for (int64_t s = 0; s < n; s += o_.batch)
      batches_.emplace_back(order.begin() + s, order.begin() + std::min(n, s + o_.batch));
    std::vector<int64_t> perm(batches_.size());
    std::iota(perm.begin(), perm.end(), 0);
    shuffle(perm, rng);
    std::vector<std::vector<int64_t>> shuffled;
    for (int64_t i : perm) shuffled.push_back(std::move(batches_[static_cast<size_t>(i)]));
    batches_ = std::move(shuffled);
  }

  StepStats train_step(int64_t, int64_t s, int64_t step) override {
    const std::vector<int64_t>& rows = batches_[static_cast<size_t>(s)];
    const int64_t n = static_cast<int64_t>(rows.size());
    int64_t tokens = 0;
    for (int64_t r : rows) tokens += static_cast<int64_t>(data_.train[static_cast<size_t>(r)].tgt.size()) + 1;
    return dp_.forward_backward(n, [&](Model& m, int w, int64_t r0, int64_t r1) {
      const SequenceBatch b = make_sequence_batch(data_.train, std::vector<int64_t>(rows.begin() + r0, rows.begin() + r1));
      TensorF& dl = dlogits_[static_cast<size_t>(w)];
      const TensorF& logits = m.forward(b.src, b.src_lens, b.tgt_in, b.tgt_lens, true,
                                        static_cast<uint64_t>(step) * 64 + static_cast<uint64_t>(w));
      const int64_t N = logits.dim(0) * logits.dim(1);
      const CrossEntropyResult ce =
          cross_entropy(logits.view({N, logits.dim(2)}), b.tgt_out.view({N}), &dl, /*ignore_index=*/0, o_.label_smoothing);
      const float share = static_cast<float>(ce.count) / static_cast<float>(tokens);
      for (int64_t i = 0; i < dl.numel(); ++i) dl[i] *= share;
      m.backward(dl.view(logits.shape()));
      return ShardStats{ce.loss * static_cast<double>(ce.count), ce.correct, ce.count};
    });
  }

  std::optional<Evaluation> evaluate() override {
    const size_t limit = o_.eval_limit > 0 ? std::min<size_t>(static_cast<size_t>(o_.eval_limit), data_.dev.size())
                                           : data_.dev.size();
    if (limit == 0) return std::nullopt;
    const std::vector<SequencePair> dev(data_.dev.begin(), data_.dev.begin() + static_cast<std::ptrdiff_t>(limit));
    models::DecodeOptions d;
    d.max_steps = o_.max_decode;
    last_ = scorer_(dev, decode_split(dp_, dev, d));
    log_ << last_.line << "\n";
    return Evaluation{dev_loss(dev), last_.accuracy};
  }

  Metadata checkpoint_metadata() const override { return dp_.model().config().to_metadata(); }
  void save_model(const std::string& path) override { save_transformer(path, dp_.model()); }
  const Score& last() const { return last_; }

 private:
  static void shuffle(std::vector<int64_t>& v, Rng& rng) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<size_t>(rng.next_u64() % i)]);
  }

  // Teacher-forced mean token loss of a split.
  double dev_loss(const std::vector<SequencePair>& split) {
    const int64_t n = static_cast<int64_t>(split.size());
    std::vector<double> sum(static_cast<size_t>(dp_.replicas()), 0.0);
    std::vector<int64_t> count(static_cast<size_t>(dp_.replicas()), 0);
    dp_.for_each_shard(n, [&](Model& m, int w, int64_t r0, int64_t r1) {
      for (int64_t s = r0; s < r1; s += 256) {
        std::vector<int64_t> rows(static_cast<size_t>(std::min(r1, s + 256) - s));
        std::iota(rows.begin(), rows.end(), s);
        const SequenceBatch b = make_sequence_batch(split, rows);
        const TensorF& logits = m.forward(b.src, b.src_lens, b.tgt_in, b.tgt_lens);
        const int64_t N = logits.dim(0) * logits.dim(1);
        const CrossEntropyResult ce = cross_entropy<float>(logits.view({N, logits.dim(2)}), b.tgt_out.view({N}), nullptr, 0);
        sum[static_cast<size_t>(w)] += ce.loss * static_cast<double>(ce.count);
        count[static_cast<size_t>(w)] += ce.count;
      }
    });
    const double total = std::accumulate(sum.begin(), sum.end(), 0.0);
    const int64_t c = std::accumulate(count.begin(), count.end(), int64_t{0});
    return c > 0 ? total / static_cast<double>(c) : 0.0;
  }

  DataParallel<Model>& dp_;
  const TransformerTrainOptions& o_;
  const SequenceSplits& data_;
  const Scorer& scorer_;
  std::ostream& log_;
  std::vector<TensorF> dlogits_;
  std::vector<std::vector<int64_t>> batches_;
  Score last_;
};

std::string run_config(const TransformerTrainOptions& o, const models::TransformerSeq2SeqConfig& c) {
  std::ostringstream s;
  s << "{\"epochs\":" << o.epochs << ",\"batch\":" << o.batch << ",\"lr\":" << o.lr << ",\"warmup\":" << o.warmup
    << ",\"weight_decay\":" << o.weight_decay << ",\"clip\":" << o.clip << ",\"label_smoothing\":" << o.label_smoothing
    << ",\"seed\":" << o.seed << ",\"d_model\":" << c.d_model << ",\"nhead\":" << c.nhead
    << ",\"encoder_layers\":" << c.encoder_layers << ",\"decoder_layers\":" << c.decoder_layers
    << ",\"dim_feedforward\":" << c.dim_feedforward << ",\"dropout\":" << c.dropout;
  if (o.ema > 0) s << ",\"ema\":" << o.ema << ",\"ema_warmup\":" << (o.ema_warmup ? "true" : "false");
  s << "}";
  return s.str();
}

}  // namespace

SequenceBatch make_sequence_batch(const std::vector<SequencePair>& pairs, const std::vector<int64_t>& rows) {
  const int64_t b = static_cast<int64_t>(rows.size());
  QKV_CHECK(b > 0, "make_sequence_batch: no rows");
  int64_t S = 1, T = 1;
  for (int64_t r : rows) {
    QKV_CHECK(r >= 0 && r < static_cast<int64_t>(pairs.size()), "make_sequence_batch: row ", r, " out of range");
    const SequencePair& p = pairs[static_cast<size_t>(r)];
    QKV_CHECK(!p.src.empty(), "make_sequence_batch: pair ", r, " has an empty source");
    S = std::max<int64_t>(S, static_cast<int64_t>(p.src.size()));
    T = std::max<int64_t>(T, static_cast<int64_t>(p.tgt.size()) + 1);
  }
  SequenceBatch out{TensorI({b, S}), TensorI({b}), TensorI({b, T}), TensorI({b, T}), TensorI({b})};
  for (int64_t i = 0; i < b; ++i) {
    const SequencePair& p = pairs[static_cast<size_t>(rows[static_cast<size_t>(i)])];
    const int64_t ls = static_cast<int64_t>(p.src.size()), lt = static_cast<int64_t>(p.tgt.size());
    std::copy(p.src.begin(), p.src.end(), out.src.data() + i * S);
    out.src_lens[i] = ls;
    out.tgt_in[i * T] = 1;
    std::copy(p.tgt.begin(), p.tgt.end(), out.tgt_in.data() + i * T + 1);
    std::copy(p.tgt.begin(), p.tgt.end(), out.tgt_out.data() + i * T);
    out.tgt_out[i * T + lt] = 2;
    out.tgt_lens[i] = lt + 1;
  }
  return out;
}

void TransformerTrainOptions::validate() const {
  QKV_CHECK(epochs >= 1, "transformer: --epochs is ", epochs, "; expected >= 1");
  QKV_CHECK(batch >= 1, "transformer: --batch is ", batch, "; expected >= 1");
  QKV_CHECK(std::isfinite(lr) && lr > 0, "transformer: --lr is ", lr, "; expected a finite number > 0");
  QKV_CHECK(warmup >= 0, "transformer: --warmup is ", warmup, "; expected >= 0");
  QKV_CHECK(std::isfinite(label_smoothing) && label_smoothing >= 0 && label_smoothing < 1,
            "transformer: --label-smoothing is ", label_smoothing, "; expected a number in [0, 1)");
  QKV_CHECK(max_decode >= 1, "transformer: max_decode is ", max_decode, "; expected >= 1");
}

Score train_transformer(DataParallel<Model>& dp, const TransformerTrainOptions& o, const SequenceSplits& data,
                        const Scorer& scorer, std::ostream& log) {
  o.validate();
  QKV_CHECK(!data.train.empty(), "transformer: no training pairs");
  TransformerTask task(dp, o, data, scorer, log);
  TrainerOptions t;
  t.name = "transformer";
  t.epochs = o.epochs;
  t.steps_per_epoch = task.steps_per_epoch();
  t.warmup_steps = std::min(o.warmup, o.epochs * t.steps_per_epoch);
  t.lr = o.lr;
  t.min_lr = o.lr * 0.02;
  t.adamw.weight_decay = o.weight_decay;
  t.clip_grad_norm = o.clip;
  t.out_dir = o.out_dir;
  t.resume = o.resume;
  t.progress = o.progress;
  t.rate_unit = "tok/s";  // target tokens (with <eos>) of the steps
  t.heldout_name = "dev";
  t.run_config = run_config(o, dp.model().config());
  t.ema.decay = o.ema;
  t.ema.warmup = o.ema_warmup;
  t.end_with_ema = true;
  Trainer trainer(task, t);
  trainer.run(log);
  return task.last();
}

models::Sequences decode_split(DataParallel<Model>& dp, const std::vector<SequencePair>& split,
                               const models::DecodeOptions& options, int64_t batch) {
  const int64_t n = static_cast<int64_t>(split.size());
  models::Sequences out(static_cast<size_t>(n));
  dp.for_each_shard(n, [&](Model& m, int, int64_t r0, int64_t r1) {
    for (int64_t s = r0; s < r1; s += batch) {
      std::vector<int64_t> rows(static_cast<size_t>(std::min(r1, s + batch) - s));
      std::iota(rows.begin(), rows.end(), s);
      const SequenceBatch b = make_sequence_batch(split, rows);
      models::Sequences got = models::decode(m, b.src, b.src_lens, options);
      for (size_t i = 0; i < got.size(); ++i) out[static_cast<size_t>(s) + i] = std::move(got[i]);
    }
  });
  return out;
}

void save_transformer(const std::string& path, Model& model) {
  write_model_file(path, model.named_parameters(), model.config().to_metadata());
}

}  // namespace qkv::train
