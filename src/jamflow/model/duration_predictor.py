"""Phoneme durations from the text and the prompt's voice: how a new text is laid out over its frames.

Why. A model that shows each mel frame its own phoneme (`audio.text_durations`, jamflow.model.durations)
speaks the layout it is given. The mean-duration table gives every phoneme its average length whatever
its neighbours, its stress or its place in the sentence. With the forced-aligned durations in its place
(same total length) the shipped model's word error on held-out sentences fell from 0.34 to 0.24
(docs/model.md), so the layout, not the acoustic model, was most of the gap. This network predicts it,
FastSpeech-style, and is fitted after the DiT on the same aligned durations (`jamflow fit-durations`).

Inputs: token ids [b, nt] (-1 = padding) and a voice vector [b, 2 * mel_dim] (mean and std of the
prompt's speech frames, `voice_features`; a row of NaN = no prompt). Output: log(1 + frames) per
token [b, nt]. The network is small (0.81 M parameters at dim 192): embedding + voice, a few
convolutions for the neighbours, a bidirectional GRU for the place in the sentence.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from jamflow.audio.mel import speech_frames
from jamflow.config import DurationConfig


def voice_features(mel: torch.Tensor) -> torch.Tensor:
    """Log-mel [n, d] -> [2 d]: mean and std over its speech frames (silence would say how long the
    clip's pauses are, not who speaks). An empty mel gives NaN (no voice)."""
    mel = torch.as_tensor(mel, dtype=torch.float32)
    if mel.shape[0] == 0:
        return torch.full((2 * mel.shape[1],), float("nan"))
    speech = speech_frames(mel)
    return torch.cat([speech.mean(0), speech.std(0, unbiased=False)])


class ConvBlock(nn.Module):
    def __init__(self, dim: int, kernel: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2)
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:  # x [b, nt, d], keep [b, nt, 1]
        h = self.conv((x * keep).transpose(1, 2)).transpose(1, 2)
        return x + self.drop(self.norm(torch.relu(h)))


class DurationPredictor(nn.Module):
    def __init__(self, cfg: DurationConfig, vocab: int, mel_dim: int = 100):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(vocab + 1, cfg.dim)  # row 0 = padding (ids are shifted by one)
        if cfg.voice:
            # one extra input says "no voice"; the statistics normalise the voice vector (set by fitting)
            self.voice = nn.Linear(2 * mel_dim + 1, cfg.dim)
            self.register_buffer("voice_mean", torch.zeros(2 * mel_dim))
            self.register_buffer("voice_std", torch.ones(2 * mel_dim))
        else:
            self.voice = None
        self.convs = nn.ModuleList(ConvBlock(cfg.dim, cfg.kernel, cfg.dropout) for _ in range(cfg.conv_layers))
        self.rnn = nn.GRU(cfg.dim, cfg.dim // 2, batch_first=True, bidirectional=True)
        self.out = nn.Linear(cfg.dim, 1)

    def forward(self, text: torch.Tensor, voice: torch.Tensor | None = None) -> torch.Tensor:
        """text [b, nt] (-1 = padding), voice [b, 2 mel_dim] (NaN rows = none) -> log(1 + frames) [b, nt]."""
        keep = (text >= 0).unsqueeze(-1).float()  # [b, nt, 1]
        x = self.embed((text + 1).clamp(min=0))
        if self.voice is not None:
            b = text.shape[0]
            if voice is None:
                voice = torch.full((b, self.voice_mean.numel()), float("nan"), device=text.device)
            missing = torch.isnan(voice).any(-1, keepdim=True)  # [b, 1]
            v = torch.where(missing, torch.zeros_like(voice), (voice - self.voice_mean) / self.voice_std)
            x = x + self.voice(torch.cat([v, missing.float()], -1)).unsqueeze(1)
        for block in self.convs:
            x = block(x, keep)
        lengths = (text >= 0).sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(x * keep, lengths, batch_first=True, enforce_sorted=False)
        h, _ = self.rnn(packed)
        h, _ = pad_packed_sequence(h, batch_first=True, total_length=text.shape[1])
        return self.out(h).squeeze(-1) * keep.squeeze(-1)

    @torch.no_grad()
    def frames(self, ids, voice: torch.Tensor | None = None) -> np.ndarray:
        """Token ids [nt] (+ voice [2 mel_dim]) -> predicted frames per token [nt] (>= 0, float)."""
        if len(ids) == 0:
            return np.zeros(0)
        p = next(self.parameters())
        text = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=p.device)[None]
        v = None if voice is None else torch.as_tensor(voice, dtype=torch.float32, device=p.device)[None]
        was_training = self.training
        self.eval()
        log = self(text, v)[0].float()
        self.train(was_training)
        return np.clip(np.expm1(log.cpu().numpy().astype(np.float64)), 0.0, None)
