#!/usr/bin/env python3
"""Checks the layer order of src/qkv: no folder includes a folder above it.

The order (README, "Architecture"), lowest first:
  core < kernels < ops < nn < io < data < models < train < pictures < demos
A file in one layer may include its own layer and the layers below it. Prints each include that
reaches up, as file:line, and exits 1 when there is any.
"""
import pathlib
import re
import sys

LAYERS = ["core", "kernels", "ops", "nn", "io", "data", "models", "train", "pictures", "demos"]
INCLUDE = re.compile(r'#\s*include\s*[<"]qkv/([a-z_]+)/')


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent) / "src" / "qkv"
    if not root.is_dir():
        print(f"check-layers: no source tree at {root}", file=sys.stderr)
        return 2
    rank = {name: i for i, name in enumerate(LAYERS)}
    problems, checked = [], 0
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".h", ".cpp"):
            continue
        layer = path.relative_to(root).parts[0]
        if layer not in rank:
            problems.append(f"{path}: folder '{layer}' is not in the layer order {LAYERS}")
            continue
        checked += 1
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = INCLUDE.search(line)
            if match and rank.get(match.group(1), len(LAYERS)) > rank[layer]:
                problems.append(f"{path}:{number}: {layer} includes qkv/{match.group(1)}/ (a layer above it)")
    for problem in problems:
        print(problem)
    print(f"check-layers: {checked} files, {len(problems)} include(s) reaching up")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
