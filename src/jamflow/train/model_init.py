"""The model a training run starts from: its config (preset + overrides), the check that the feature
cache was prepared for it, and its initial weights (a jamflow checkpoint or F5-TTS)."""
from __future__ import annotations

from pathlib import Path

from jamflow.errors import UserError
from jamflow.train.config import TrainConfig


def build_model_config(cfg: TrainConfig):
    from jamflow.config import get_preset

    if cfg.model.overrides.get("duration_predictor") is not None:
        raise UserError("model.overrides.duration_predictor: expected none; the duration predictor is fitted after "
                        "training, on the exported model (`jamflow fit-durations`)")
    try:
        return get_preset(cfg.model.preset, **cfg.model.overrides)
    except (TypeError, UserError) as e:  # an unknown field, at the top level or inside a sub-config
        raise UserError(f"model.overrides: expected fields of the preset's config, got {e}") from None


def check_cache_fits(model_cfg, meta: dict, text_max: int) -> None:
    """The cache must have been prepared for this model: tokenizer and vocab size."""
    if meta["tokenizer"] != model_cfg.tokenizer:
        raise UserError(f"data.cache: expected features tokenized with {model_cfg.tokenizer!r} (the model's "
                        f"tokenizer), got {meta['tokenizer']!r}; re-run prepare with --tokenizer {model_cfg.tokenizer}")
    if text_max >= model_cfg.audio.text_num_embeds:
        raise UserError(f"model.overrides.audio.text_num_embeds: expected > the largest token id in the cache "
                        f"({text_max}), got {model_cfg.audio.text_num_embeds}")


PREDICTOR_PREFIX = "duration_predictor."


def load_init_weights(model, cfg: TrainConfig) -> None:
    """Audio-DiT from F5-TTS (--init_f5), or the whole model from a jamflow checkpoint (init_from)."""
    from safetensors.torch import load_file

    from jamflow.model.jam import load_state_strict

    if cfg.model.init_from:
        path = Path(cfg.model.init_from)
        if (path / "model.safetensors").is_file() and (path / "config.json").is_file():
            state = load_file(str(path / "model.safetensors"))  # an exported inference checkpoint
        else:
            from jamflow.train.checkpoints import inference_weights, resolve_checkpoint

            state = inference_weights(resolve_checkpoint(path))
        # a fitted duration predictor is not trained with the DiT (jamflow fit-durations refits it after)
        state = {k: v for k, v in state.items() if not k.startswith(PREDICTOR_PREFIX)}
        own = model.state_dict()
        fresh = sorted(k for k in own if k not in state and k.startswith("motion."))
        if fresh and not any(k.startswith("motion.") for k in state):
            # a speech-only model (no motion stream) initialises the Audio-DiT; the motion stream starts fresh
            state = {**state, **{k: own[k] for k in fresh}}
            print(f"init_from: {path} has no motion stream; the Audio-DiT is loaded, the motion stream is new")
        load_state_strict(model, state, str(path))
    if cfg.model.init_f5:
        from jamflow.model.f5_weights import load_f5tts

        f5 = load_f5tts(cfg.model.init_f5, cfg.model.f5_version)
        load_state_strict(model.audio, f5.state_dict(), "model.init_f5 (the preset's Audio-DiT)")
