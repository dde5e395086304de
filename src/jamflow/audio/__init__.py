"""Audio and text front end: file I/O, the F5 mel, text normalisation/chunking, tokenizers.

    mel_spectrogram(wav [b, s], kind="vocos") -> log-mel [b, 100, 1 + s // 256]   (jamflow.audio.mel)
    io: load_audio, save_wav, resample, normalize_loudness, restore_loudness, trim_silence
    reference: prepare_reference (trim, clip <= 12 s with its transcript, loudness)
    text: normalize_text, chunk_text;  tokenizers: get_tokenizer, pad_token_ids
"""
from jamflow.audio.mel import mel_spectrogram, num_frames

__all__ = ["mel_spectrogram", "num_frames"]
