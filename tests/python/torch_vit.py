"""The architecture of qkv::models::Vit in PyTorch, with the same state_dict names: the oracle of
tests/python/test_vit_parity.py and the speed peer of bench/compare_torch_vit.py.

TorchViT(config) takes qkv's vit_config fields: image_size, channels, patch, dim, depth, heads,
mlp_hidden, classes."""
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


class TorchViT(nn.Module):
    """The architecture of qkv::models::Vit, with the same state_dict names."""

    def __init__(self, c):
        super().__init__()
        n = (c["image_size"] // c["patch"]) ** 2
        self.patch_embed = PatchEmbed(c["channels"], c["dim"], c["patch"])
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c["dim"]))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, c["dim"]))
        self.blocks = nn.ModuleList(Block(c["dim"], c["heads"], c["mlp_hidden"]) for _ in range(c["depth"]))
        self.norm = nn.LayerNorm(c["dim"], eps=1e-6)
        self.head = nn.Linear(c["dim"], c["classes"])

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x[:, 0]))
