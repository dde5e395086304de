"""Errors as JSON: `{"error": {"message": ..., "field": ..., "type": ...}}` with a status code.

`jamflow.errors.UserError` messages read `name: expected X, got Y`; `from_user_error` turns the
name into the request field it came from (the API's `gen_text` is the request's `input`, ...).
"""
from __future__ import annotations

import re

from jamflow.errors import UserError

# names used by the JAMFlow API -> the request field a client sent
API_TO_FIELD = {"gen_text": "input", "text": "input", "ref_audio": "voice", "ref_text": "voice", "path": "audio",
                "source": "image"}
_NAME = re.compile(r"^\s*-{0,2}([A-Za-z_][A-Za-z0-9_]*)(?:\[\d+\])?\s*:")


class ApiError(Exception):
    """An error answered to the client: status, one-line message, the field at fault (or None)."""

    def __init__(self, status: int, message: str, field: str | None = None, kind: str = "invalid_request_error",
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.kind = status, message, field, kind
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "field": self.field, "type": self.kind}}


def bad_field(field: str, expected: str, got) -> ApiError:
    """400 for a request field: `field: expected ..., got ...`."""
    return ApiError(400, f"{field}: expected {expected}, got {got}", field)


def field_of(message: str) -> str | None:
    m = _NAME.match(message)
    return m.group(1) if m else None


def from_user_error(err: UserError, rename: dict | None = None) -> ApiError:
    """A UserError raised by the JAMFlow API -> 422 naming the request field (the request was well formed,
    but the model's checks refused a value). `rename` maps extra API names to this endpoint's fields."""
    message = str(err)
    name = field_of(message)
    names = {**API_TO_FIELD, **(rename or {})}
    field = names.get(name, name)
    if name is not None and field != name:
        message = re.sub(rf"^\s*-{{0,2}}{re.escape(name)}", field, message, count=1)
    return ApiError(422, message, field, "unprocessable_input")
