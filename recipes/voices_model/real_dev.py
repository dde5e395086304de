"""A real-voice development set: choose cloning settings on real recordings, not on the eval's.

    python recipes/voices_model/real_dev.py NAME [--steps 40 --lr 1e-3 --rank 8 --layers .] \
        [--strengths 1,0.5] [--sentences 12] [--out real_dev.jsonl]

Debian's `pocketsphinx-testdata` holds, besides the LibriVox reader of the eval set, two more real
speakers, recorded at 16 kHz:
    cards  five short clips (playing cards read aloud); the prompt is the 3.5 s one, "eight of spades ..."
    dhd    raw 16-bit clips ("go forward ten meters", "go somewhere and do something", digits); the
           prompt is the 3.0 s "go somewhere and do something"
(resemblyzer puts the clips of one speaker at 0.71-0.87 and across the two at 0.42-0.70). Their own
sentences are too short and too few to score words on, so each voice speaks the held-out sentences that
flite_dev/ uses (the 13th to 24th held-out sentences) from its prompt, one sample each (seed = the
sentence's index), 16 NFE, Griffin-Lim. Word error is pocketsphinx's against the sentence; speaker
similarity is the mean cosine to the speaker's other clips (never the prompt). With --steps > 0 the
model is first fitted to the prompt (`jamflow voice`'s fit, through adapt.py); --strengths then applies the fitted
update at each strength in turn (1 = as fitted, 0.5 = half of it) without refitting. Each (voice,
strength) prints a JSON line and is appended to --out.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adapt import PromptVoice  # noqa: E402

TESTDATA = Path("/usr/share/pocketsphinx/test/data")
RAW_RATE = 16000  # the raw clips' rate: 16-bit little-endian mono
VOICES = {  # voice: (prompt, its transcript, the speaker's other clips)
    "cards": ("cards/005.wav", "eight of spades four of clubs seven of hearts",
              ["cards/001.wav", "cards/002.wav", "cards/003.wav", "cards/004.wav"]),
    "dhd": ("something.raw", "go somewhere and do something",
            ["goforward.raw", "tidigits/dhd.2934z.raw", "numbers.raw"]),
}


def read_clip(name: str, root: Path = TESTDATA) -> np.ndarray:
    """A testdata clip at the model's rate: .wav through load_audio, .raw as 16-bit 16 kHz PCM."""
    from jamflow.audio.io import SAMPLE_RATE, load_audio, resample

    path = root / name
    if path.suffix != ".raw":
        return load_audio(path)
    pcm = np.fromfile(path, dtype="<i2").astype(np.float32) / 32768
    return resample(pcm, RAW_RATE, SAMPLE_RATE).astype(np.float32)


def dev_sentences(n: int) -> list[str]:
    from jamflow.data.sentences import heldout_sentences

    return heldout_sentences()[12:12 + n]


def score_voice(jam, prompt: np.ndarray, prompt_text: str, others: list[np.ndarray], texts: list[str],
                nfe_step: int = 16) -> tuple[float, float]:
    """Clone `prompt` on every text -> (mean word error, mean similarity to the speaker's other clips)."""
    from jamflow.audio.asr import transcribe
    from jamflow.audio.io import SAMPLE_RATE
    from jamflow.eval.asr import word_error_rate
    from jamflow.eval.speaker import cosine, speaker_embedding

    refs = [speaker_embedding(o, SAMPLE_RATE) for o in others]
    wers, sims = [], []
    for i, text in enumerate(texts):
        wav = jam.tts(text, prompt, prompt_text, nfe_step=nfe_step, seed=i).wav
        wers.append(word_error_rate(text, transcribe(wav, SAMPLE_RATE)))
        emb = speaker_embedding(wav, SAMPLE_RATE)
        sims.append(float(np.mean([cosine(emb, r) for r in refs])))
    return float(np.mean(wers)), float(np.mean(sims))


def run(a: argparse.Namespace) -> list[dict]:
    from jamflow.infer.api import JAMFlow
    from jamflow.infer.voice_fit import VoiceFitConfig

    jam = JAMFlow.from_pretrained(a.checkpoint, vocoder="griffinlim", progress=False)
    voice = PromptVoice(jam, VoiceFitConfig(max(a.steps, 1), a.rank, a.lr, a.batch, a.seed, 1.0, a.layers))
    texts, records = dev_sentences(a.sentences), []
    for name, (prompt_name, prompt_text, other_names) in VOICES.items():
        prompt, others = read_clip(prompt_name), [read_clip(o) for o in other_names]
        fit = voice.fit(prompt, prompt_text) if a.steps else None
        for strength in a.strengths:
            if fit:
                voice.set_strength(strength)
            wer, sim = score_voice(jam, prompt, prompt_text, others, texts)
            records.append({"name": a.name, "voice": name, "steps": a.steps, "lr": a.lr, "rank": a.rank,
                            "layers": a.layers, "strength": strength, "wer": round(wer, 4), "sim": round(sim, 4),
                            "fit_s": fit["seconds"] if fit else 0.0,
                            "loss": [round(fit["loss_first"], 3), round(fit["loss_last"], 3)] if fit else None})
            print(json.dumps(records[-1]), flush=True)
            with open(a.out, "a") as f:
                f.write(json.dumps(records[-1]) + "\n")
    return records


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("name", help="a label for this setting's lines")
    p.add_argument("--checkpoint", default=None, help="model folder (default: the shipped model)")
    p.add_argument("--steps", type=int, default=0, help="adapter updates on the prompt (0: the base model)")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layers", default=".")
    p.add_argument("--strengths", default="1", help="comma list of adapter strengths (adapt.py --strength) "
                   "to score after one fit")
    p.add_argument("--sentences", type=int, default=12)
    p.add_argument("--out", default="real_dev.jsonl")
    a = p.parse_args(argv)
    try:
        a.strengths = [float(s) for s in a.strengths.split(",")]
    except ValueError:
        p.error(f"--strengths: expected a comma list of numbers, got {a.strengths!r}")
    if a.steps < 0 or a.rank < 1 or a.batch < 1 or not 1 <= a.sentences <= 100 or a.lr <= 0:
        p.error(f"expected --steps >= 0, --rank/--batch >= 1, --sentences in [1, 100] and --lr > 0, got "
                f"{a.steps}/{a.rank}/{a.batch}/{a.sentences}/{a.lr}")
    missing = [n for v in VOICES.values() for n in [v[0], *v[2]] if not (TESTDATA / n).is_file()]
    if missing:
        p.error(f"expected Debian's pocketsphinx-testdata in {TESTDATA} (apt-get install pocketsphinx-testdata), "
                f"missing {missing[0]}")
    run(a)


if __name__ == "__main__":
    main()
