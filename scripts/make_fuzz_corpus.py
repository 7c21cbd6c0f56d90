#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target (fuzz/corpus/<target>/): a few small valid files
and edge cases, made with the standard library only. Run from the repository root."""
import gzip
import json
import os
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None):
    """tensors: {name: (dtype, shape, bytes)}"""
    header, blobs, off = {}, [], 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text.encode() + b"".join(blobs)


def f32(shape, value=0.5):
    n = 1
    for s in shape:
        n *= s
    return ("F32", list(shape), struct.pack("<%df" % n, *([value] * n)))


def png(width, height, color_type, bit_depth, rows, extra=b"", interlace=0):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    raw = b"".join(b"\x00" + r for r in rows)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def idx(ndims, dims, payload):
    return bytes([0, 0, 8, ndims]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def main():
    # safetensors
    put("safetensors", "every_dtype", safetensors({
        "a": f32([2, 3]), "b": ("F64", [1], struct.pack("<d", 3.25)),
        "c": ("I64", [2], struct.pack("<2q", 7, -1)), "d": ("U8", [3], b"\x01\x02\x03")},
        {"format": "test"}))
    put("safetensors", "empty_tensor", safetensors({"e": ("F32", [0, 4], b"")}))
    put("safetensors", "no_tensors", safetensors({}, {"k": "v"}))
    put("safetensors", "nan_weight", safetensors({"w": ("F32", [1], struct.pack("<f", float("nan")))}))

    # IDX: the first byte picks images (odd) or labels (even)
    put("idx", "images_plain", b"\x01" + idx(3, [2, 2, 2], bytes(range(8))))
    put("idx", "images_gz", b"\x01" + gzip.compress(idx(3, [3, 2, 2], bytes(range(12))), mtime=0))
    put("idx", "labels_gz", b"\x00" + gzip.compress(idx(1, [4], bytes([1, 2, 3, 9])), mtime=0))
    put("idx", "labels_huge_header", b"\x00" + idx(1, [0xFFFFFFFF], b""))
    put("idx", "images_overflow", b"\x01" + idx(3, [4, 0x80000000, 0x80000000], b""))

    # the CMU dictionary (Festival's format)
    put("cmudict", "entries", 'MNCL\n("a" dt (((ax) 0)))\n("a" n (((ey) 1)))\n("AWOL" n (((ey) 1) ((w ao l) 0)))\n'
        '("brouillard" nil (((b r) 0) ((w iy) 0) ((l aa r d) 1)))\n("r2d2" nil (((aa r) 1) ((t uw) 1)))\n')
    put("cmudict", "crlf", '("don\'t" v (((d ow n t) 1)))\r\n\r\n("cafe" nil (((k ae) 0) ((f ey) 2)))\r\n')
    put("cmudict", "unknown_phone", '("ab" nil (((ae qq) 1)))\n')
    put("cmudict", "unterminated", '("ab" nil (((ae b) 1)\n')

    # PNG
    put("png", "gray8", png(4, 2, 0, 8, [bytes([0, 64, 128, 255])] * 2))
    put("png", "rgb8", png(2, 2, 2, 8, [bytes(range(6))] * 2))
    put("png", "rgba8", png(2, 1, 6, 8, [bytes(range(8))]))
    put("png", "gray_alpha16", png(2, 1, 4, 16, [bytes(range(8))]))
    put("png", "gray_trns", png(2, 1, 0, 8, [bytes([5, 9])], extra=png_chunk(b"tRNS", b"\x00\x05")))
    put("png", "palette", png(2, 1, 3, 8, [bytes([0, 1])], extra=png_chunk(b"PLTE", bytes(range(6)))))
    put("png", "gray1", png(9, 9, 0, 1, [b"\xaa\x80"] * 9))
    put("png", "huge_header", png(1000000, 1000000, 0, 8, [b"\x00"]))

    # the embeddings file of `qkv explain`
    put("embeddings", "three", "# token and 3 values\nthe 1 0 0\ncat 0 1 0\nsat 0 0 1\n")
    put("embeddings", "utf8", "早 0.1 -0.2\n上 1e-3 2.5\n好 -1 1 # comment\n")
    put("embeddings", "ragged", "a 1 2\nb 1\n")

    # ViT checkpoints: image 4, patch 2, dim 4, depth 1, heads 2, MLP 4, 3 classes
    cfg = {"image_size": 4, "channels": 1, "patch": 2, "dim": 4, "depth": 1, "heads": 2,
           "mlp_hidden": 4, "classes": 3, "dropout": 0.0, "attn_dropout": 0.0}
    E, F, L = 4, 4, 5
    shapes = {"cls_token": [1, 1, E], "pos_embed": [1, L, E], "patch_embed.proj.weight": [E, 1, 2, 2],
              "patch_embed.proj.bias": [E], "norm.weight": [E], "norm.bias": [E],
              "head.weight": [3, E], "head.bias": [3]}
    for k, s in {"norm1.weight": [E], "norm1.bias": [E], "attn.in_proj_weight": [3 * E, E],
                 "attn.in_proj_bias": [3 * E], "attn.out_proj.weight": [E, E], "attn.out_proj.bias": [E],
                 "norm2.weight": [E], "norm2.bias": [E], "mlp.fc1.weight": [F, E], "mlp.fc1.bias": [F],
                 "mlp.fc2.weight": [E, F], "mlp.fc2.bias": [E]}.items():
        shapes["blocks.0." + k] = s
    tensors = {k: f32(s, 0.1) for k, s in shapes.items()}
    put("vit_checkpoint", "tiny", safetensors(tensors, {"vit_config": json.dumps(cfg), "format": "qkv-vit"}))
    put("vit_checkpoint", "deep_config", safetensors(tensors, {"vit_config": json.dumps(dict(cfg, depth=10000000))}))
    put("vit_checkpoint", "float_dim", safetensors(tensors, {"vit_config": json.dumps(dict(cfg, dim=32.7))}))

    # seq2seq models: vocab 16 (the fuzz target's), embed 2, hidden 2, attention 2
    V, E, H, A = 16, 2, 2, 2
    s2s = {"encoder.embedding.weight": [V, E], "encoder.rnn.weight_ih_l0": [3 * H, E],
           "encoder.rnn.weight_hh_l0": [3 * H, H], "encoder.rnn.bias_ih_l0": [3 * H],
           "encoder.rnn.bias_hh_l0": [3 * H], "decoder.embedding.weight": [V, E],
           "decoder.attention.W_q.weight": [A, H], "decoder.attention.W_k.weight": [A, H],
           "decoder.attention.w_v.weight": [1, A], "decoder.rnn.weight_ih_l0": [3 * H, E + H],
           "decoder.rnn.weight_hh_l0": [3 * H, H], "decoder.rnn.bias_ih_l0": [3 * H],
           "decoder.rnn.bias_hh_l0": [3 * H], "decoder.dense.weight": [V, 2 * H], "decoder.dense.bias": [V]}
    meta = {"format": "qkv.seq2seq.dates", "vocab": "16", "embed": "2", "hidden": "2", "attention": "2"}
    put("seq2seq_model", "tiny", safetensors({k: f32(s, 0.1) for k, s in s2s.items()}, meta))
    put("seq2seq_model", "huge_hidden", safetensors({}, dict(meta, hidden="1000000")))

    # vit_config JSON
    put("vit_config", "default", json.dumps(dict(cfg, image_size=28, patch=7, dim=64, depth=6, heads=4,
                                                 mlp_hidden=128, classes=10)))
    put("vit_config", "float_dim", json.dumps(dict(cfg, dim=32.7)))
    put("vit_config", "huge", json.dumps(dict(cfg, dim=4096, depth=256, mlp_hidden=16384)))


if __name__ == "__main__":
    main()
