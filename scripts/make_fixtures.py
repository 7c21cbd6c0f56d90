#!/usr/bin/python3
"""Writes tests/fixtures/fashion-mnist-tiny/: the first 500 training and 250 test images of
Fashion-MNIST (with their labels) as gzip'd IDX files, byte-for-byte reproducible (mtime 0).

Usage: /usr/bin/python3 scripts/make_fixtures.py [--data /usr/share/datasets/fashion-mnist]
"""
import argparse
import gzip
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "fashion-mnist-tiny")
COUNTS = {"train": 500, "t10k": 250}


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndims = data[3]
    dims = struct.unpack(">" + "I" * ndims, data[4:4 + 4 * ndims])
    return dims, data[4 + 4 * ndims:]


def write_idx(path, dims, payload):
    header = bytes([0, 0, 8, len(dims)]) + struct.pack(">" + "I" * len(dims), *dims)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
            f.write(header + payload)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    for split, n in COUNTS.items():
        dims, pixels = read_idx(os.path.join(args.data, f"{split}-images-idx3-ubyte.gz"))
        _, labels = read_idx(os.path.join(args.data, f"{split}-labels-idx1-ubyte.gz"))
        size = dims[1] * dims[2]
        write_idx(os.path.join(OUT, f"{split}-images-idx3-ubyte.gz"), (n, dims[1], dims[2]), pixels[: n * size])
        write_idx(os.path.join(OUT, f"{split}-labels-idx1-ubyte.gz"), (n,), labels[:n])
        print(f"{split}: {n} images of {dims[1]}x{dims[2]}, classes {sorted(set(labels[:n]))}")


if __name__ == "__main__":
    main()
