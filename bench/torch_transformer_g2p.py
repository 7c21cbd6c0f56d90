#!/usr/bin/python3
"""The PyTorch peer of `qkv transformer train --task cmudict`: PyTorch 1.13's nn.Transformer trained
on the same grapheme-to-phoneme data, split, vocabularies and metrics, read through qkv's Python
module (qkv.read_cmudict, qkv.g2p_split, qkv.g2p_vocab, qkv.score_g2p), so both sides see exactly
the same words and are scored by the same code.

The model is qkv's TransformerSeq2Seq written in PyTorch, with its parameter names:
  src_embed, tgt_embed   nn.Embedding, N(0, 1/d_model), scaled by sqrt(d_model), plus the
                         sinusoidal position table, then dropout
  transformer            nn.Transformer(batch_first=True) with the given sizes and norm_first,
                         initialised as qkv's nn::Transformer (nn/linear.cpp, nn/multihead_attention.cpp):
                         every Linear U(+-1/sqrt(fan_in)) for weight and bias, attention in_proj
                         Xavier-uniform with zero biases, out_proj bias zero, LayerNorm (1, 0); not
                         nn.Transformer's own Xavier-uniform of every matrix
  generator              nn.Linear(d_model, phoneme vocabulary), U(+-1/sqrt(d_model)), bias 0
Masks: source key padding (encoder and memory), causal + target key padding (decoder).
Training as qkv's transformer trainer: one example per distinct pronunciation of each training
word; every epoch the examples are shuffled, cut into chunks of 64 batches, each chunk sorted by
word length and cut into batches, the batches shuffled; cross-entropy over the target tokens
(<pad> ignored, optional label smoothing); AdamW (betas 0.9, 0.999, eps 1e-8; no weight decay
on biases and LayerNorm parameters), linear warm-up then cosine decay to 0 at the last step,
global-norm clipping. Decayed: the matrices of linear maps and attention projections (and the
generator); not decayed: embeddings, biases, LayerNorm parameters (qkv's Parameter::weight_decay).
The cosine ends at 2% of the peak learning rate, as qkv's transformer trainer
(train/transformer_trainer.cpp: min_lr = 0.02 lr).

Defaults are those `qkv transformer train` had when the README's PyTorch comparisons were measured
(d_model 64, 2+2 layers, 4 heads, feed-forward 256, dropout 0, 5 epochs of batches of 128, lr 3e-3,
300 warm-up steps, weight decay 0.01, clip 1, no label smoothing). qkv's default is now larger
(demos/transformer_tasks.h: d_model 128, feed-forward 512, weight decay 0.1, 17 epochs, an EMA of
the weights); `--d-model 128 --dim-feedforward 512 --weight-decay 0.1` gives its model and
optimizer here (this loop has no EMA). bench/compare_torch_transformer_wer.py and
compare_torch_transformer.py pass every option to both sides explicitly (and `--ema 0` to qkv),
so a changed default cannot make the two recipes differ.
Reports, after --steps optimizer steps (or --epochs passes): test WER and PER (greedy decoding; without stress, and
with stress when trained with --stress), training tokens/s (source + target tokens, padding
excluded, <eos> counted, over the wall time of the training steps) and greedy decoding words/s
(the encoder once, then the whole decoder recomputed over the prefix at every step, as
nn.Transformer's API does; batches of --decode-batch words).

OpenBLAS in Debian does not recognise recent CPUs; as bench/compare_torch_vit.py, PyTorch runs
with OPENBLAS_CORETYPE=SKYLAKEX unless --no-openblas-override is given. Timing belongs to a quiet
machine: figures from a shared one move between runs.

Usage: PYTHONPATH=build/python /usr/bin/python3 bench/torch_transformer_g2p.py [--epochs 3 | --steps N] [--json]
"""
import argparse
import json
import math
import os
import sys
import time


def add_model_arguments(ap):
    # Defaults: `qkv transformer train`'s (demos/transformer_tasks.cpp).
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--nhead", type=int, default=4)
    ap.add_argument("--encoder-layers", type=int, default=2)
    ap.add_argument("--decoder-layers", type=int, default=2)
    ap.add_argument("--dim-feedforward", type=int, default=256)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--activation", choices=["relu", "gelu"], default="relu")
    ap.add_argument("--norm-first", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--stress", action=argparse.BooleanOptionalAction, default=True,
                    help="targets with stress digits, as qkv trains (--no-stress: without)")
    ap.add_argument("--batch", type=int, default=128, help="examples per step")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=300, help="warm-up steps")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--clip", type=float, default=1.0, help="global gradient norm (0: none)")
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-decode", type=int, default=64, help="longest decoded pronunciation")
    ap.add_argument("--dict", default=None, help="the dictionary (default: Debian's festlex-cmu)")
    ap.add_argument("--no-openblas-override", action="store_true")


def parse_arguments(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(ap)
    ap.add_argument("--steps", type=int, default=0, help="optimizer steps (default: --epochs)")
    ap.add_argument("--epochs", type=int, default=5,
                    help="passes over the training examples when --steps is not given (qkv's default run: 5)")
    ap.add_argument("--eval-limit", type=int, default=0, help="test words decoded (0: all)")
    ap.add_argument("--decode-batch", type=int, default=256)
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    args = ap.parse_args(argv)
    if args.steps < 0 or args.epochs < 1:
        ap.error(f"--steps is {args.steps} and --epochs {args.epochs}; expected steps >= 0 (0: epochs), epochs >= 1")
    for name in ("batch", "d_model", "nhead", "threads", "decode_batch", "max_decode"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} is {getattr(args, name)}; expected at least 1")
    if args.d_model % args.nhead:
        ap.error(f"--d-model {args.d_model} is not a multiple of --nhead {args.nhead}")
    return args


def total_steps(args, data):
    """--steps, or --epochs passes of ceil(examples / batch) steps (qkv's steps per epoch)."""
    steps = args.steps or args.epochs * -(-len(data.train_examples) // args.batch)
    if args.warmup < 0 or args.warmup > steps:
        raise SystemExit(f"--warmup is {args.warmup}; expected 0 <= warmup <= the steps ({steps})")
    return steps


def set_up_torch(args):
    """Imports torch after the OpenBLAS setting (it is read when the library loads)."""
    if not args.no_openblas_override:
        os.environ.setdefault("OPENBLAS_CORETYPE", "SKYLAKEX")
    import torch
    torch.set_num_threads(args.threads)
    return torch


# ---- data: qkv's dictionary, split and vocabularies ----

class G2pData:
    """The split words (word -> pronunciations), the vocabularies (token -> id) and the training
    examples (one per distinct pronunciation, after stripping stress when stress is off)."""

    def __init__(self, qkv, stress, path=None):
        words, self.stats = qkv.read_cmudict(path)
        self.stress = stress
        self.graphemes = qkv.g2p_vocab("graphemes")
        self.phonemes = qkv.g2p_vocab("phonemes_stress" if stress else "phonemes")
        self.grapheme_id = {t: i for i, t in enumerate(self.graphemes)}
        self.phoneme_id = {t: i for i, t in enumerate(self.phonemes)}
        self.split = {"train": {}, "dev": {}, "test": {}}
        for w, prons in words.items():
            self.split[qkv.g2p_split(w)][w] = prons
        self.train_examples = []
        for w, prons in self.split["train"].items():
            seen = []
            for p in prons:
                p = p if stress else qkv.strip_stress(p)
                if p not in seen:
                    seen.append(p)
                    self.train_examples.append((self.encode_word(w), [self.phoneme_id[x] for x in p]))

    def encode_word(self, w):
        return [self.grapheme_id[c] for c in w]

    def tokens_per_epoch(self):
        """Source + target tokens of one pass over the training examples (target: phonemes + <eos>)."""
        return sum(len(s) + len(t) + 1 for s, t in self.train_examples)


PAD, BOS, EOS = 0, 1, 2


def epoch_batches(n_examples, lengths, batch, rng):
    """qkv's batching: shuffle, chunks of 64 batches sorted by source length, batches shuffled."""
    order = rng.permutation(n_examples)
    batches = []
    chunk = 64 * batch
    for start in range(0, n_examples, chunk):
        part = sorted(order[start:start + chunk], key=lambda i: lengths[i])
        batches += [part[i:i + batch] for i in range(0, len(part), batch)]
    return [batches[i] for i in rng.permutation(len(batches))]


def make_batch(torch, examples, rows):
    """src (B, S), src_pad (B, S) True at padding, tgt_in (B, T) = <bos> + phonemes,
    tgt_out (B, T) = phonemes + <eos>, tgt_pad (B, T); and the batch's real tokens."""
    S = max(len(examples[r][0]) for r in rows)
    T = max(len(examples[r][1]) for r in rows) + 1
    src = torch.full((len(rows), S), PAD, dtype=torch.long)
    tgt_in = torch.full((len(rows), T), PAD, dtype=torch.long)
    tgt_out = torch.full((len(rows), T), PAD, dtype=torch.long)
    tokens = 0
    for b, r in enumerate(rows):
        s, t = examples[r]
        src[b, :len(s)] = torch.tensor(s)
        tgt_in[b, 0] = BOS
        tgt_in[b, 1:len(t) + 1] = torch.tensor(t, dtype=torch.long)
        tgt_out[b, :len(t)] = torch.tensor(t, dtype=torch.long)
        tgt_out[b, len(t)] = EOS
        tokens += len(s) + len(t) + 1
    return src, src == PAD, tgt_in, tgt_out, tgt_out == PAD, tokens


# ---- the model ----

def reset_like_qkv(transformer):
    """qkv's initialisation of nn::Transformer: PyTorch's per-module defaults (Linear: weight and
    bias U(+-1/sqrt(fan_in)); MultiheadAttention: in_proj Xavier-uniform, in_proj and out_proj
    biases 0; LayerNorm: 1, 0), where nn.Transformer itself re-draws every matrix Xavier-uniform."""
    from torch import nn
    for m in transformer.modules():
        if isinstance(m, nn.Linear):
            m.reset_parameters()
    for m in transformer.modules():
        if isinstance(m, (nn.MultiheadAttention, nn.LayerNorm)):
            m._reset_parameters() if isinstance(m, nn.MultiheadAttention) else m.reset_parameters()


def build_model(torch, args, src_vocab, tgt_vocab, max_len=256):
    from torch import nn

    class TorchTransformerSeq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            E = args.d_model
            self.d_model = E
            self.src_embed = nn.Embedding(src_vocab, E)
            self.tgt_embed = nn.Embedding(tgt_vocab, E)
            self.transformer = nn.Transformer(
                d_model=E, nhead=args.nhead, num_encoder_layers=args.encoder_layers,
                num_decoder_layers=args.decoder_layers, dim_feedforward=args.dim_feedforward,
                dropout=args.dropout, activation=args.activation, batch_first=True, norm_first=args.norm_first)
            self.generator = nn.Linear(E, tgt_vocab)
            self.drop = nn.Dropout(args.dropout)
            with torch.no_grad():
                reset_like_qkv(self.transformer)
                for e in (self.src_embed, self.tgt_embed):
                    e.weight.normal_(0.0, 1.0 / math.sqrt(E))
                bound = 1.0 / math.sqrt(E)
                self.generator.weight.uniform_(-bound, bound)
                self.generator.bias.zero_()
            pos = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
            div = torch.exp(torch.arange(0, E, 2, dtype=torch.float64) * (-math.log(10000.0) / E))
            pe = torch.zeros(max_len, E, dtype=torch.float64)
            pe[:, 0::2] = torch.sin(pos * div)
            pe[:, 1::2] = torch.cos(pos * div)[:, :E // 2]
            self.register_buffer("pe", pe.float(), persistent=False)

        def embed(self, table, ids, start=0):
            return self.drop(table(ids) * math.sqrt(self.d_model) + self.pe[start:start + ids.shape[1]])

        def encode(self, src, src_pad):
            return self.transformer.encoder(self.embed(self.src_embed, src), src_key_padding_mask=src_pad)

        def decode(self, memory, src_pad, tgt_in, tgt_pad=None):
            T = tgt_in.shape[1]
            causal = self.transformer.generate_square_subsequent_mask(T)
            h = self.transformer.decoder(self.embed(self.tgt_embed, tgt_in), memory, tgt_mask=causal,
                                         tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad)
            return self.generator(h)

        def forward(self, src, src_pad, tgt_in, tgt_pad):
            return self.decode(self.encode(src, src_pad), src_pad, tgt_in, tgt_pad)

    return TorchTransformerSeq2Seq()


MIN_LR_FRACTION = 0.02  # qkv's transformer trainer: the cosine ends at 0.02 * peak


def warmup_cosine_lr(step, warmup, total, peak, min_lr=None):
    """qkv's schedule (train/schedule.h): step s is the step about to be taken; the cosine goes
    from peak to min_lr (default: MIN_LR_FRACTION * peak, as qkv's transformer trainer)."""
    min_lr = MIN_LR_FRACTION * peak if min_lr is None else min_lr
    if step < warmup:
        return peak * (step + 1) / warmup
    if step >= total:
        return min_lr
    progress = (step - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (peak - min_lr) * (1.0 + math.cos(math.pi * progress))


def decayed(name, p):
    """qkv decays the matrices of linear maps and attention projections, not embeddings."""
    return p.dim() >= 2 and not name.endswith("_embed.weight")


def make_optimizer(torch, model, args):
    decay = [p for n, p in model.named_parameters() if decayed(n, p)]
    no_decay = [p for n, p in model.named_parameters() if not decayed(n, p)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=args.lr, betas=(0.9, 0.999), eps=1e-8)


def train(torch, model, data, args, steps, log=None, total=None):
    """`steps` optimizer steps of a schedule that ends at step `total` (default: `steps`); returns
    (seconds, tokens, last loss). Batch building is timed too, as it is part of qkv's steps."""
    total = total or steps
    import numpy as np
    rng = np.random.default_rng(args.seed)
    lengths = [len(s) for s, _ in data.train_examples]
    opt = make_optimizer(torch, model, args)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=args.label_smoothing)
    model.train()
    step, tokens, loss_value = 0, 0, float("nan")
    start = time.perf_counter()
    while step < steps:
        for rows in epoch_batches(len(data.train_examples), lengths, args.batch, rng):
            if step >= steps:
                break
            src, src_pad, tgt_in, tgt_out, tgt_pad, n = make_batch(torch, data.train_examples, rows)
            for group in opt.param_groups:
                group["lr"] = warmup_cosine_lr(step, args.warmup, total, args.lr)
            logits = model(src, src_pad, tgt_in, tgt_pad)
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if args.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            tokens += n
            step += 1
            loss_value = loss.item()
            if log and (step % 50 == 0 or step == steps):
                log(f"step {step}/{steps}  loss {loss_value:.4f}  {tokens / (time.perf_counter() - start):.0f} tokens/s")
    return time.perf_counter() - start, tokens, loss_value


def greedy_decode(torch, model, data, words, args):
    """Greedy pronunciations of `words` (lists of phonemes) and the seconds it took."""
    model.eval()
    out = []
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(words), args.decode_batch):
            chunk = words[i:i + args.decode_batch]
            S = max(len(w) for w in chunk)
            src = torch.full((len(chunk), S), PAD, dtype=torch.long)
            for b, w in enumerate(chunk):
                src[b, :len(w)] = torch.tensor(data.encode_word(w))
            src_pad = src == PAD
            memory = model.encode(src, src_pad)
            ys = torch.full((len(chunk), 1), BOS, dtype=torch.long)
            done = torch.zeros(len(chunk), dtype=torch.bool)
            for _ in range(args.max_decode):  # tokens generated, <eos> included (qkv's max_steps)
                # The whole decoder over the prefix again: nn.Transformer has no cache.
                nxt = model.decode(memory, src_pad, ys)[:, -1].argmax(-1)
                nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
                ys = torch.cat([ys, nxt.unsqueeze(1)], dim=1)
                done |= nxt == EOS
                if bool(done.all()):
                    break
            for row in ys[:, 1:].tolist():
                phonemes = []
                for t in row:
                    if t == EOS or t == PAD:
                        break
                    phonemes.append(data.phonemes[t])
                out.append(phonemes)
    return out, time.perf_counter() - start


def score(qkv, data, words, predicted):
    refs = [data.split["test"][w] for w in words]
    result = {"no_stress": qkv.score_g2p(predicted, refs, stress=False)}
    if data.stress:
        result["stress"] = qkv.score_g2p(predicted, refs, stress=True)
    return result


def main(argv=None):
    args = parse_arguments(argv)
    torch = set_up_torch(args)
    import qkv
    log = None if args.json else (lambda s: print(s, file=sys.stderr, flush=True))
    data = G2pData(qkv, args.stress, args.dict)
    torch.manual_seed(args.seed)
    model = build_model(torch, args, len(data.graphemes), len(data.phonemes))
    if log:
        log(f"torch {torch.__version__}, {args.threads} threads; {len(data.train_examples)} training examples, "
            f"{len(data.split['test'])} test words; {sum(p.numel() for p in model.parameters())} parameters")
    steps = total_steps(args, data)
    seconds, tokens, loss = train(torch, model, data, args, steps, log)
    words = sorted(data.split["test"])
    if args.eval_limit:
        words = words[:args.eval_limit]
    predicted, decode_seconds = greedy_decode(torch, model, data, words, args)
    scores = score(qkv, data, words, predicted)
    result = {"steps": steps, "batch": args.batch, "train_seconds": seconds, "train_tokens": tokens,
              "tokens_per_second": tokens / seconds, "final_loss": loss, "test_words": len(words),
              "decode_words_per_second": len(words) / decode_seconds,
              "test_wer": scores["no_stress"]["wer"], "test_per": scores["no_stress"]["per"]}
    if args.stress:
        result["test_wer_stress"] = scores["stress"]["wer"]
        result["test_per_stress"] = scores["stress"]["per"]
    if args.json:
        print(json.dumps(result))
    else:
        print(f"training: {tokens / seconds:.0f} tokens/s ({steps} steps, {seconds:.1f} s)")
        print(f"greedy decoding: {len(words) / decode_seconds:.1f} words/s ({len(words)} test words)")
        if args.stress:
            print(f"test WER (stress): {result['test_wer_stress']:.4f}")
            print(f"test PER (stress): {result['test_per_stress']:.4f}")
        print(f"test WER: {result['test_wer']:.4f}")
        print(f"test PER: {result['test_per']:.4f}")
    return result


if __name__ == "__main__":
    main()
