import json
from pathlib import Path

import numpy as np
import pytest

from jamflow.errors import UserError
from jamflow.eval import generate

synth = pytest.importorskip("jamflow.data.synth")
api = pytest.importorskip("jamflow.infer.api")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    synth.synth_corpus(root / "ref", 3, families=("espeak",), seed=5, workers=1, heldout_voices=(),
                       heldout_fraction=0.0, progress=False)
    from jamflow.data.manifest import read_manifest

    return root, read_manifest(root / "ref" / "manifest.jsonl")


def test_prompt_is_another_clip_of_the_same_speaker():
    pool = [{"id": "a", "speaker": "x"}, {"id": "b", "speaker": "y"}, {"id": "c", "speaker": "x"}]
    assert generate.prompt_for(pool[0], pool)["id"] == "c"
    assert generate.prompt_for(pool[2], pool)["id"] == "a"  # wraps around
    assert generate.prompt_for(pool[1], pool) is None  # alone: no prompt rather than itself


def test_prompt_prefers_the_asked_duration_and_falls_back():
    pool = [{"id": "a", "speaker": "x", "duration": 2.0}, {"id": "b", "speaker": "x", "duration": 2.5},
            {"id": "c", "speaker": "x", "duration": 4.0}, {"id": "d", "speaker": "y", "duration": 1.0},
            {"id": "e", "speaker": "y", "duration": 1.5}]
    assert generate.prompt_for(pool[0], pool)["id"] == "b"
    assert generate.prompt_for(pool[0], pool, (3.0, 5.0))["id"] == "c"
    assert generate.prompt_for(pool[2], pool, (3.0, 5.0))["id"] in ("a", "b")  # c fits, but is the clip itself
    assert generate.prompt_for(pool[3], pool, (3.0, 5.0))["id"] == "e"  # nobody fits: any other clip


def test_prompts_of_a_duration_are_spread_over_the_speakers_clips():
    pool = [{"id": f"{i:03d}", "speaker": "x", "duration": 4.0 if i % 2 else 2.0} for i in range(40)]
    picked = [generate.prompt_for(r, pool, (3.0, 5.0)) for r in pool[:10]]
    assert all(p["duration"] == 4.0 and p["id"] != r["id"] for p, r in zip(picked, pool))
    assert len({p["id"] for p in picked}) >= 5  # not one shared prompt (the next fitting clip would be)
    assert picked == [generate.prompt_for(r, pool, (3.0, 5.0)) for r in pool[:10]]  # deterministic


def test_generate_manifest_with_tiny_model(corpus):
    from jamflow.config import get_preset
    from jamflow.data.manifest import read_manifest
    from jamflow.model.jam import JAMModel
    from jamflow.vocoder import Vocos

    root, rows = corpus
    model = JAMModel(get_preset("tiny", motion_spec="full", audio={"text_num_embeds": 256}))
    jam = api.JAMFlow(model, vocoder=Vocos().eval(), device="cpu", progress=False)  # random weights: fast
    path = generate.generate_manifest(jam, rows[:2], rows, "talk", root / "out", samples=2, nfe_step=2)
    out = read_manifest(path)
    assert [r["id"] for r in out] == [rows[0]["id"], rows[0]["id"] + "@1", rows[1]["id"], rows[1]["id"] + "@1"]
    for r in out:
        motion = np.load(r["motion"])
        assert motion.ndim == 2 and motion.shape[1] == 70
    raw = json.loads(path.read_text().splitlines()[0])
    assert not raw["audio"].startswith("/")  # paths relative to the manifest folder
    assert raw["ref_duration"] is None  # every clip of this corpus has its own voice: no prompt
    peer = dict(rows[1], id="zz", speaker=rows[0]["speaker"])
    path = generate.generate_manifest(jam, rows[:1], rows + [peer], "tts", root / "out_peer", nfe_step=2)
    raw = json.loads(path.read_text().splitlines()[0])
    assert raw["ref_duration"] == peer["duration"] and raw["ref_audio"].endswith(Path(peer["audio"]).name)
    with pytest.raises(UserError, match="task"):
        generate.generate_manifest(jam, rows[:1], rows, "sing", root / "bad")


def test_talk_takes_the_prompts_motion_unless_told_not_to(corpus, monkeypatch):
    from jamflow.config import get_preset
    from jamflow.model.jam import JAMModel
    from jamflow.vocoder import Vocos

    root, rows = corpus
    model = JAMModel(get_preset("tiny", motion_spec="full", audio={"text_num_embeds": 256}))
    jam = api.JAMFlow(model, vocoder=Vocos().eval(), device="cpu", progress=False)
    peer = dict(rows[1], id="zz", speaker=rows[0]["speaker"])  # a prompt of the same voice, with motion
    given = []
    talk = jam.talk
    monkeypatch.setattr(jam, "talk", lambda *a, ref_motion=None, **kw: given.append(ref_motion) or talk(
        *a, ref_motion=ref_motion, **kw))
    for prompt_motion in (True, False):
        generate.generate_manifest(jam, rows[:1], rows + [peer], "talk", root / f"out_{prompt_motion}", nfe_step=2,
                                   prompt_motion=prompt_motion)
    assert given[0] is not None and given[0].shape[1] == 70 and given[1] is None


def test_on_prompt_is_called_when_the_prompt_changes(corpus):
    from jamflow.config import get_preset
    from jamflow.model.jam import JAMModel
    from jamflow.vocoder import Vocos

    root, rows = corpus
    model = JAMModel(get_preset("tiny", motion_spec="full", audio={"text_num_embeds": 256}))
    jam = api.JAMFlow(model, vocoder=Vocos().eval(), device="cpu", progress=False)
    x1, x2, long = (dict(rows[r], id=i, speaker="s", duration=d) for r, i, d in ((0, "x1", 2.0), (0, "x2", 2.0),
                                                                                   (1, "p", 4.0)))
    calls, generated = [], []
    tts = jam.tts
    jam.tts = lambda *a, **kw: generated.append(len(calls)) or tts(*a, **kw)
    generate.generate_manifest(jam, [x1, x2, long], [x1, x2, long], "tts", root / "out_hook", samples=1,
                               prompt_seconds=(3.0, 5.0), nfe_step=2,
                               on_prompt=lambda p, wav: calls.append((p["id"], wav.shape)))
    # x1 and x2 share the 4 s prompt: one call for both; "p" itself is prompted by one of them
    assert [c[0] for c in calls][0] == "p" and len(calls) == 2 and calls[1][0] in ("x1", "x2")
    assert all(len(shape) == 1 and shape[0] > 0 for _, shape in calls)  # the prompt's audio, as tts gets it
    assert generated == [1, 1, 2]  # each call comes before the clips it prompts
