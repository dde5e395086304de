"""espeak-ng IPA phonemes through libespeak-ng (ctypes): deterministic, ~50 us a sentence, no subprocess.

espeak_TextToPhonemes works clause by clause and drops punctuation, so the text is split on
punctuation here first and the marks are put back between the phonemised pieces:
"Hello, world." -> "həlˈoʊ, wˈɜːld."
"""
from __future__ import annotations

import ctypes
import ctypes.util
import re
import threading

from jamflow.errors import UserError

_LIB_NAMES = ("libespeak-ng.so.1", "libespeak-ng.so", "libespeak-ng.1.dylib", "libespeak-ng.dylib")
_AUDIO_OUTPUT_SYNCHRONOUS = 0x02
_BUFFER_MS = 500
# phoneme events + IPA for the corpus synthesiser (speech_engines); harmless for text -> phonemes
_INIT_OPTIONS = 0x0001 | 0x0002 | 0x8000  # PHONEME_EVENTS | PHONEME_IPA | DONT_EXIT
_CHARS_UTF8 = 1
_PHONEMES_IPA = 0x02
_PUNCT = re.compile(r"([,.!?;:]+)")
_LANG_SWITCH = re.compile(r"\([a-z]{2,3}(?:-[a-z0-9]+)*\)")  # "(en)" markers around foreign words


class _Voice(ctypes.Structure):  # espeak_VOICE
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]

_lock = threading.Lock()  # espeak-ng keeps global state: one caller at a time
_lib = None
_sample_rate = 0


def espeak_library() -> tuple[ctypes.CDLL, int]:
    """The process's libespeak-ng, initialised once -> (library, synthesis sample rate).

    Every user in the process must share this one initialisation: a second espeak_Initialize frees and
    reloads the phoneme tables under the first user's loaded voice (a use-after-free that crashed
    phonemisation at random once the corpus synthesiser had initialised the library a second time).
    """
    with _lock:
        return _load(), _sample_rate


def _load():
    global _lib, _sample_rate
    if _lib is not None:
        return _lib
    names = list(_LIB_NAMES) + [n for n in [ctypes.util.find_library("espeak-ng")] if n]
    for name in names:
        try:
            lib = ctypes.cdll.LoadLibrary(name)
            break
        except OSError:
            continue
    else:
        raise UserError("tokenizer: the phoneme tokenizer needs libespeak-ng; install it "
                        "(Debian: apt-get install libespeak-ng1 espeak-ng)")
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_Voice)]
    lib.espeak_SetVoiceByProperties.restype = ctypes.c_int
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, None, _INIT_OPTIONS)
    if rate <= 0:
        raise UserError("tokenizer: libespeak-ng failed to initialise (is espeak-ng-data installed?)")
    _lib, _sample_rate = lib, rate
    return lib


def _set_voice(lib, language: str) -> None:
    # set on every call (~0.06 ms): another user of the library may have changed the voice
    # a voice name/file ("en-us", "gmw/en-GB-x-rp") first, then a language code ("en-gb")
    ok = lib.espeak_SetVoiceByName(language.encode()) == 0
    if not ok:
        ok = lib.espeak_SetVoiceByProperties(ctypes.byref(_Voice(languages=language.encode()))) == 0
    if not ok:
        raise UserError(f"language: expected an espeak-ng voice name such as 'en-us', got {language!r}")


def _clauses(lib, text: str) -> str:
    buf = ctypes.c_char_p(text.encode("utf-8"))
    ptr = ctypes.pointer(buf)
    out = []
    while buf.value:
        res = lib.espeak_TextToPhonemes(ptr, _CHARS_UTF8, _PHONEMES_IPA)
        if res:
            out.append(_LANG_SWITCH.sub("", res.decode("utf-8")).strip())
    return " ".join(p for p in out if p)


def phonemize(text: str, language: str = "en-us") -> str:
    """Text -> IPA string with word spaces, stress marks and the text's , . ! ? ; : kept."""
    with _lock:
        lib = _load()
        _set_voice(lib, language)
        pieces = []
        for part in _PUNCT.split(text):
            if not part:
                continue
            if _PUNCT.fullmatch(part):
                pieces.append(part)
            elif part.strip():
                ipa = _clauses(lib, part.strip())
                if ipa:
                    pieces.append((" " if pieces else "") + ipa)
    return "".join(pieces).strip()
