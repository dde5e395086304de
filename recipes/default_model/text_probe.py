"""Text-use probe: how much the model's velocity depends on the text.

    python text_probe.py EXPORT_DIR CACHE_DIR {train|test}

For 24 festival clips of the split (seen voices only), batch 1, fixed noise: the flow-matching loss on
the generated 70% of the clip (first 30% of the mel known, motion unknown, eyes/pose context given)
at t = 0.1 and 0.5, with the clip's text, with the text dropped (the CFG branch) and with another clip's
text. A model that reads its text scores "right" well below the other two at low t. A model that lays
its text out by durations (audio.text_durations) gets every text spread by its mean-duration table over
the clip's frames, the right text included, so that the three differ only in the words.
"""
import json
import sys

import numpy as np
import torch

from jamflow.model.jam import JAMModel
from jamflow.data.batching import CachedDataset
from jamflow.model.durations import text_index_for
torch.set_num_threads(1)
ckpt, cache, split = sys.argv[1], sys.argv[2], sys.argv[3]
model = JAMModel.from_pretrained(ckpt).eval()
ds = CachedDataset(cache, split=split, motion_spec=model.cfg.motion_spec)
pick = [i for i, l in enumerate(ds.items) if l['speaker'].startswith('festival') and l['speaker'] != 'festival:ked_diphone'][:24]
g = torch.Generator().manual_seed(0)
res = {}
for t in (0.1, 0.5):
    tot = {'right': [], 'dropped': [], 'shuffled': []}
    for j, i in enumerate(pick):
        it = ds[i]; other = ds[pick[(j + 7) % len(pick)]]
        mel = it['mel'][None]; n = mel.shape[1]
        known = int(0.3 * n)
        cond = mel.clone(); cond[:, known:] = 0
        noise = torch.randn(mel.shape, generator=g)
        x = (1 - t) * noise + t * mel
        mo = it['motion'][None]; ctx = it['motion_context'][None]
        nm = torch.randn(mo.shape, generator=g)
        xm = (1 - t) * nm + t * mo
        table = model.cfg.audio.text_durations
        for name, text, drop in (('right', it['text'], False), ('dropped', it['text'], True), ('shuffled', other['text'], False)):
            index = None if table is None else text_index_for(table, [(text.tolist(), n, True, True)], n)[None]
            with torch.no_grad():
                va, _ = model(x, cond, text[None], torch.tensor([t]), motion_x=xm, motion_cond=torch.zeros_like(mo),
                              motion_context=ctx, drop_text=drop, text_index=index)
            tot[name].append(((va - (mel - noise))[:, known:] ** 2).mean().item())
    res[t] = {k: round(float(np.mean(v)), 4) for k, v in tot.items()}
print(ckpt, split, json.dumps(res))
