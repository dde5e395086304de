"""Building blocks shared by LivePortrait's networks F, W and G.

Attribute names (`conv`, `norm`, `conv1`, `norm_0`, `mlp_shared`, ...) are part of the official
checkpoint key layout: renaming one breaks weight loading (see weights.py for the full key map).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SameBlock2d(nn.Module):
    """conv 3x3 -> BN -> ReLU (or LeakyReLU), resolution kept."""

    def __init__(self, cin: int, cout: int, lrelu: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm = nn.BatchNorm2d(cout)
        self.lrelu = lrelu

    def forward(self, x):
        x = self.norm(self.conv(x))
        return F.leaky_relu(x) if self.lrelu else F.relu(x)


class DownBlock2d(nn.Module):
    """conv 3x3 -> BN -> ReLU -> 2x2 average pool."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), 2)


class ResBlock3d(nn.Module):
    """Pre-activation 3D residual block: BN -> ReLU -> conv, twice, plus the input."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv3d(c, c, 3, padding=1)
        self.conv2 = nn.Conv3d(c, c, 3, padding=1)
        self.norm1 = nn.BatchNorm3d(c)
        self.norm2 = nn.BatchNorm3d(c)

    def forward(self, x):
        h = self.conv1(F.relu(self.norm1(x)))
        return x + self.conv2(F.relu(self.norm2(h)))


class DownBlock3d(nn.Module):
    """3D conv -> BN -> ReLU -> pool over (h, w) only: depth is kept."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, 3, padding=1)
        self.norm = nn.BatchNorm3d(cout)

    def forward(self, x):
        return F.avg_pool3d(F.relu(self.norm(self.conv(x))), (1, 2, 2))


class UpBlock3d(nn.Module):
    """Nearest upsampling over (h, w), then 3D conv -> BN -> ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, 3, padding=1)
        self.norm = nn.BatchNorm3d(cout)

    def forward(self, x):
        x = F.interpolate(x, scale_factor=(1, 2, 2))
        return F.relu(self.norm(self.conv(x)))


def _width(expansion: int, level: int, max_features: int) -> int:
    return min(max_features, expansion * 2**level)


class HourglassEncoder(nn.Module):
    def __init__(self, expansion: int, cin: int, num_blocks: int, max_features: int):
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock3d(cin if i == 0 else _width(expansion, i, max_features), _width(expansion, i + 1, max_features))
            for i in range(num_blocks)
        )

    def forward(self, x):
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class HourglassDecoder(nn.Module):
    def __init__(self, expansion: int, cin: int, num_blocks: int, max_features: int):
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            # every level but the deepest receives its own output concatenated with the skip
            mult = 1 if i == num_blocks - 1 else 2
            blocks.append(UpBlock3d(mult * _width(expansion, i + 1, max_features), _width(expansion, i, max_features)))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = expansion + cin
        self.conv = nn.Conv3d(self.out_filters, self.out_filters, 3, padding=1)
        self.norm = nn.BatchNorm3d(self.out_filters)

    def forward(self, skips: list[torch.Tensor]):
        skips = list(skips)
        x = skips.pop()
        for block in self.up_blocks:
            x = torch.cat([block(x), skips.pop()], dim=1)
        return F.relu(self.norm(self.conv(x)))


class Hourglass(nn.Module):
    """3D U-Net without the bottleneck block; output channels = expansion + input channels."""

    def __init__(self, expansion: int, cin: int, num_blocks: int, max_features: int):
        super().__init__()
        self.encoder = HourglassEncoder(expansion, cin, num_blocks, max_features)
        self.decoder = HourglassDecoder(expansion, cin, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x):
        return self.decoder(self.encoder(x))


class SpectralConv2d(nn.Conv2d):
    """Conv2d under torch's spectral_norm, as it behaves in eval mode.

    The checkpoint stores `weight_orig`, `weight_u`, `weight_v`; the used weight is
    weight_orig / (u . W v) with the stored u, v (no power iteration at inference).
    """

    def __init__(self, cin: int, cout: int, kernel_size: int, padding: int = 0, bias: bool = True):
        super().__init__(cin, cout, kernel_size, padding=padding, bias=bias)
        w = self.weight.data
        del self.weight
        self.weight_orig = nn.Parameter(w)
        self.register_buffer("weight_u", F.normalize(torch.randn(cout), dim=0))
        self.register_buffer("weight_v", F.normalize(torch.randn(w[0].numel()), dim=0))

    def normalised_weight(self) -> torch.Tensor:
        w = self.weight_orig
        sigma = torch.dot(self.weight_u, w.reshape(w.shape[0], -1) @ self.weight_v)
        return w / sigma

    def forward(self, x):
        return self._conv_forward(x, self.normalised_weight(), self.bias)


class SPADE(nn.Module):
    """Instance norm whose scale and shift are predicted per pixel from a conditioning map."""

    def __init__(self, channels: int, label_channels: int, hidden: int = 128):
        super().__init__()
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x, seg):
        seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        h = self.mlp_shared(seg)
        return F.instance_norm(x) * (1 + self.mlp_gamma(h)) + self.mlp_beta(h)


class SPADEResnetBlock(nn.Module):
    def __init__(self, cin: int, cout: int, label_channels: int):
        super().__init__()
        mid = min(cin, cout)
        self.learned_shortcut = cin != cout
        self.conv_0 = SpectralConv2d(cin, mid, 3, padding=1)
        self.conv_1 = SpectralConv2d(mid, cout, 3, padding=1)
        self.norm_0 = SPADE(cin, label_channels)
        self.norm_1 = SPADE(mid, label_channels)
        if self.learned_shortcut:
            self.conv_s = SpectralConv2d(cin, cout, 1, bias=False)
            self.norm_s = SPADE(cin, label_channels)

    def forward(self, x, seg):
        skip = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        h = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        h = self.conv_1(F.leaky_relu(self.norm_1(h, seg), 0.2))
        return skip + h
