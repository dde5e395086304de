"""Request fields -> checked values. The same rules serve JSON bodies (typed values) and multipart
forms (every value a string, converted here), so a field means one thing on every endpoint.

Sampler settings are the fields of `jamflow.infer.settings.InferSettings`, under the same names as
the Python API and the CLI flags (`seed`, `nfe_step`, `cfg_strength`, ...).
"""
from __future__ import annotations

import math
from dataclasses import fields as dataclass_fields

from jamflow.errors import UserError
from jamflow.infer.settings import InferSettings, make_settings
from jamflow.serve.errors import ApiError, bad_field, from_user_error

# InferSettings field -> (python type, None allowed); read from the dataclass so a new setting is served
# without a change here
SETTING_TYPES: dict[str, tuple[type, bool]] = {}
for _f in dataclass_fields(InferSettings):
    _spec = str(_f.type)
    _base = {"int": int, "float": float, "str": str, "bool": bool}[_spec.split("|")[0].strip()]
    SETTING_TYPES[_f.name] = (_base, "None" in _spec)

_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def coerce(name: str, value, typ: type, nullable: bool = True, from_form: bool = False):
    """One field's value as `typ` (form strings are parsed); 400 naming the field otherwise."""
    if value is None or (from_form and value == "" and nullable):
        if nullable:
            return None
        raise bad_field(name, _TYPE_WORDS[typ], "null")
    if from_form and isinstance(value, str) and typ is not str:
        value = _parse_form_value(name, value, typ)
    ok = {int: isinstance(value, int) and not isinstance(value, bool),
          float: isinstance(value, (int, float)) and not isinstance(value, bool),
          str: isinstance(value, str), bool: isinstance(value, bool)}[typ]
    if not ok:
        raise bad_field(name, _TYPE_WORDS[typ], f"{type(value).__name__} {_show(value)}")
    if typ is float:
        value = float(value)
        if not math.isfinite(value):
            raise bad_field(name, "a finite number", _show(value))
    return value


def _parse_form_value(name: str, text: str, typ: type):
    try:
        if typ is bool:
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError
            return lowered in ("true", "1")
        return typ(text.strip())
    except ValueError:
        raise bad_field(name, _TYPE_WORDS[typ], _show(text)) from None


class Fields:
    """The fields of one request; `take` marks each as used, `finish` rejects the ones nobody took."""

    def __init__(self, values: dict, from_form: bool = False):
        self.values, self.from_form, self.used = dict(values), from_form, set()

    def take(self, name: str, typ: type, default=None, required: bool = False):
        self.used.add(name)
        if name not in self.values or (self.values[name] is None and required):
            if required:
                raise ApiError(400, f"{name}: expected a value, got none (the field is required)", name)
            return default
        value = coerce(name, self.values[name], typ, nullable=not required, from_form=self.from_form)
        return default if value is None else value

    def text(self, name: str, max_chars: int, required: bool = True) -> str | None:
        value = self.take(name, str, required=required)
        if value is None:
            return None
        if not value.strip():
            raise bad_field(name, "non-empty text", _show(value))
        if len(value) > max_chars:
            raise bad_field(name, f"at most {max_chars} characters", f"{len(value)}")
        return value

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        value = self.take(name, str, default)
        if value not in options:
            raise bad_field(name, f"one of {list(options)}", _show(value))
        return value

    def settings(self, max_audio_s: float) -> InferSettings:
        """InferSettings from the setting fields present, with a concrete seed (drawn now if none given)."""
        given = {}
        for name, (typ, nullable) in SETTING_TYPES.items():
            if name in self.values:
                given[name] = self.take(name, typ)
        if given.get("fix_duration") is not None and given["fix_duration"] > max_audio_s:
            raise bad_field("fix_duration", f"at most {max_audio_s:g} s (the server's --max_audio_s)",
                            given["fix_duration"])
        try:
            return make_settings(None, **given).with_seed()
        except UserError as e:
            err = from_user_error(e)
            err.status = 400
            err.kind = "invalid_request_error"
            raise err from None

    def finish(self) -> None:
        unknown = sorted(set(self.values) - self.used)
        if unknown:
            own = sorted(self.used - set(SETTING_TYPES))
            raise ApiError(400, f"{unknown[0]}: expected one of this endpoint's fields {own} or a sampler setting "
                                f"{list(SETTING_TYPES)}, got unknown field(s) {unknown}", unknown[0])
