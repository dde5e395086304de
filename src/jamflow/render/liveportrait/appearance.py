"""F: appearance feature extractor. Portrait [b, 3, 256, 256] in [0, 1] -> feature volume [b, 32, 16, 64, 64]."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from jamflow.render.liveportrait.layers import DownBlock2d, ResBlock3d, SameBlock2d


@dataclass
class AppearanceConfig:
    image_channel: int = 3
    block_expansion: int = 64
    num_down_blocks: int = 2
    max_features: int = 512
    reshape_channel: int = 32
    reshape_depth: int = 16
    num_resblocks: int = 6


class AppearanceFeatureExtractor(nn.Module):
    def __init__(self, cfg: AppearanceConfig = AppearanceConfig()):
        super().__init__()
        self.cfg = cfg
        e, m = cfg.block_expansion, cfg.max_features
        self.first = SameBlock2d(cfg.image_channel, e)
        widths = [min(m, e * 2**i) for i in range(cfg.num_down_blocks + 1)]
        self.down_blocks = nn.ModuleList(DownBlock2d(widths[i], widths[i + 1]) for i in range(cfg.num_down_blocks))
        self.second = nn.Conv2d(widths[-1], m, 1)
        # keys are "resblocks_3d.3dr0.*": a Sequential with named children, as in the checkpoint
        self.resblocks_3d = nn.Sequential()
        for i in range(cfg.num_resblocks):
            self.resblocks_3d.add_module(f"3dr{i}", ResBlock3d(cfg.reshape_channel))

    def forward(self, image):  # [b, 3, H, W] -> [b, 32, 16, H/4, W/4]
        x = self.first(image)
        for block in self.down_blocks:
            x = block(x)
        x = self.second(x)  # [b, 512, h, w]
        b, _, h, w = x.shape
        # the 512 channels are read as a 32-channel volume of depth 16
        volume = x.view(b, self.cfg.reshape_channel, self.cfg.reshape_depth, h, w)
        return self.resblocks_3d(volume)
