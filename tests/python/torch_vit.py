"""The architecture of qkv::models::Vit in PyTorch, with the same state_dict names: the oracle of
tests/python/test_vit_parity.py and the speed peer of bench/compare_torch_vit.py.

TorchViT(config) takes qkv's vit_config fields: image_size, channels, patch, dim, depth, heads,
mlp_hidden, classes, and optionally stem ("patch" or "conv"), stem_channels (the conv stem's hidden
widths) and pool ("cls" or "mean"). drop_path is a training-only option and plays no part here."""
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential()
        self.mlp.add_module("fc1", nn.Linear(dim, hidden))
        self.mlp.add_module("act", nn.GELU())
        self.mlp.add_module("fc2", nn.Linear(hidden, dim))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, channels, dim, patch):
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class ConvStem(nn.Module):
    """conv3x3 s1 -> GELU -> conv3x3 s2 -> GELU -> ... -> conv3x3 s2 to dim (padding 1)."""

    def __init__(self, channels, dim, widths):
        super().__init__()
        layers, cin = [], channels
        for i, cout in enumerate(list(widths) + [dim]):
            if i:
                layers.append(nn.GELU())
            layers.append(nn.Conv2d(cin, cout, 3, stride=1 if i == 0 else 2, padding=1))
            cin = cout
        self.stem = nn.Sequential(*layers)

    def forward(self, x):
        return self.stem(x).flatten(2).transpose(1, 2)


class TorchViT(nn.Module):
    """The architecture of qkv::models::Vit, with the same state_dict names."""

    def __init__(self, c):
        super().__init__()
        n = (c["image_size"] // c["patch"]) ** 2
        if c.get("stem", "patch") == "conv":
            self.patch_embed = ConvStem(c["channels"], c["dim"], c.get("stem_channels", [24, 48]))
        else:
            self.patch_embed = PatchEmbed(c["channels"], c["dim"], c["patch"])
        self.mean_pool = c.get("pool", "cls") == "mean"
        if not self.mean_pool:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, c["dim"]))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + (0 if self.mean_pool else 1), c["dim"]))
        self.blocks = nn.ModuleList(Block(c["dim"], c["heads"], c["mlp_hidden"]) for _ in range(c["depth"]))
        self.norm = nn.LayerNorm(c["dim"], eps=1e-6)
        self.head = nn.Linear(c["dim"], c["classes"])

    def forward(self, x):
        x = self.patch_embed(x)
        if not self.mean_pool:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = x + self.pos_embed
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x.mean(dim=1) if self.mean_pool else x[:, 0]))
