"""G: SPADE decoder. Warped features [b, 256, 64, 64] -> image [b, 3, 512, 512] in [0, 1]."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from jamflow.render.liveportrait.layers import SPADEResnetBlock


@dataclass
class GeneratorConfig:
    upscale: int = 2
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    out_channels: int = 64


class SPADEDecoder(nn.Module):
    def __init__(self, cfg: GeneratorConfig = GeneratorConfig()):
        super().__init__()
        self.cfg = cfg
        c = min(cfg.max_features, cfg.block_expansion * 2**cfg.num_down_blocks)  # 256: the warped features
        self.fc = nn.Conv2d(c, 2 * c, 3, padding=1)
        for i in range(6):
            setattr(self, f"G_middle_{i}", SPADEResnetBlock(2 * c, 2 * c, c))
        self.up_0 = SPADEResnetBlock(2 * c, c, c)
        self.up_1 = SPADEResnetBlock(c, cfg.out_channels, c)
        if cfg.upscale > 1:
            # keys conv_img.0.*: conv to 3*r*r channels, then PixelShuffle (no weights)
            r = cfg.upscale
            self.conv_img = nn.Sequential(nn.Conv2d(cfg.out_channels, 3 * r * r, 3, padding=1), nn.PixelShuffle(r))
        else:
            self.conv_img = nn.Conv2d(cfg.out_channels, 3, 3, padding=1)

    def forward(self, feature):  # [b, 256, h, w] -> [b, 3, 4*upscale*h/... ] = [b, 3, 8h, 8w] for upscale 2
        seg = feature
        x = self.fc(feature)
        for i in range(6):
            x = getattr(self, f"G_middle_{i}")(x, seg)
        x = self.up_0(F.interpolate(x, scale_factor=2), seg)
        x = self.up_1(F.interpolate(x, scale_factor=2), seg)
        return torch.sigmoid(self.conv_img(F.leaky_relu(x, 0.2)))
