"""Request bodies: a size cap enforced before and while reading, JSON, and multipart forms whose files
are streamed straight into the request's own folder (never held whole in memory or spooled elsewhere).

`BodyLimit` answers 413 from the Content-Length header alone, and counts the bytes of bodies without
one (chunked) as they arrive, stopping the read as soon as the cap is passed.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from jamflow.serve.errors import ApiError

try:  # python-multipart >= 0.0.13 names its module python_multipart; older releases, multipart
    from python_multipart.multipart import MultipartParser, parse_options_header
except ImportError:  # pragma: no cover
    from multipart.multipart import MultipartParser, parse_options_header

MAX_FIELD_BYTES = 1 << 20  # one non-file form field
MAX_PARTS = 64
_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"body: expected at most {limit / 2**20:g} MB, got more", "body", "request_too_large")


class BodyLimit:
    """ASGI middleware: 413 for a body over `limit` bytes, before it is read in full."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                return await _send_error(send, ApiError(400, f"content-length: expected an integer, got {length!r}",
                                                        "content-length"))
            if int(length) > self.limit:
                return await _send_error(send, too_large(self.limit))
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise too_large(self.limit)
            return message

        await self.app(scope, counted, send)


async def _send_error(send, err: ApiError) -> None:
    body = json.dumps(err.body()).encode()
    await send({"type": "http.response.start", "status": err.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def content_type(request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_json(request) -> dict:
    """The body as a JSON object (400 if it is not one)."""
    if content_type(request) not in ("application/json", ""):
        raise ApiError(415, f"content-type: expected application/json, got {content_type(request)!r}",
                       "content-type")
    raw = b"".join([chunk async for chunk in request.stream()])
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, f"body: expected a JSON object, got invalid JSON ({e})", "body") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"body: expected a JSON object, got {type(body).__name__}", "body")
    return body


# ------------------------------------------------------------------------------------------------
# per-request folder and multipart forms

class Workdir:
    """A fresh temp folder for one request; `remove()` is idempotent."""

    def __init__(self):
        self.path = Path(tempfile.mkdtemp(prefix="jamflow-serve-"))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


@dataclass
class Upload:
    path: Path
    filename: str
    content_type: str
    size: int = 0


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)


class _FormBuilder:
    """python-multipart callbacks: headers per part, text fields in memory, files to disk."""

    def __init__(self, folder: Path, file_fields: tuple[str, ...]):
        self.folder, self.file_fields, self.form = folder, file_fields, Form()
        self.parts = 0
        self._reset()

    def _reset(self):
        self.headers, self._field, self._value = {}, b"", b""
        self.name, self.upload, self.sink, self.buffer = None, None, None, bytearray()

    def callbacks(self) -> dict:
        return {"on_part_begin": self._reset, "on_header_field": self._on_field, "on_header_value": self._on_value,
                "on_header_end": self._on_header_end, "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_data, "on_part_end": self._on_part_end}

    def _on_field(self, data, start, end):
        self._field += data[start:end]

    def _on_value(self, data, start, end):
        self._value += data[start:end]

    def _on_header_end(self):
        self.headers[self._field.decode("latin-1").lower()] = self._value.decode("latin-1")
        self._field, self._value = b"", b""

    def _on_headers_finished(self):
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise ApiError(400, f"body: expected at most {MAX_PARTS} form parts, got more", "body")
        _, params = parse_options_header(self.headers.get("content-disposition", ""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if not name:
            raise ApiError(400, "body: expected form parts with a name, got one without", "body")
        if name in self.form.fields or name in self.form.files:
            raise ApiError(400, f"{name}: expected one value, got several", name)
        self.name = name
        filename = params.get(b"filename")
        if filename is None:
            return
        if name not in self.file_fields:
            raise ApiError(400, f"{name}: expected a text field (files go in {list(self.file_fields)}), got a file",
                           name)
        filename = filename.decode("utf-8", "replace")
        suffix = Path(filename).suffix.lower()
        suffix = suffix if _SAFE_SUFFIX.match(suffix) else ""
        path = self.folder / f"upload-{name}{suffix}"  # the client's name never becomes a path
        self.upload = Upload(path, filename, self.headers.get("content-type", ""))
        self.sink = path.open("wb")

    def _on_data(self, data, start, end):
        if self.sink is not None:
            self.sink.write(data[start:end])
            self.upload.size += end - start
            return
        self.buffer += data[start:end]
        if len(self.buffer) > MAX_FIELD_BYTES:
            raise ApiError(413, f"{self.name}: expected at most {MAX_FIELD_BYTES} bytes, got more", self.name,
                           "request_too_large")

    def _on_part_end(self):
        if self.sink is not None:
            self.sink.close()
            self.form.files[self.name] = self.upload
        elif self.name is not None:
            try:
                self.form.fields[self.name] = self.buffer.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(400, f"{self.name}: expected UTF-8 text, got undecodable bytes", self.name) from None
        self._reset()

    def close(self):
        if self.sink is not None:
            self.sink.close()


async def read_form(request, folder: Path, file_fields: tuple[str, ...]) -> Form:
    """A multipart/form-data body (text fields as strings, files written into `folder`), or an
    application/x-www-form-urlencoded one (text fields only)."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype == b"application/x-www-form-urlencoded":
        return await _read_urlencoded(request)
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise ApiError(415, f"content-type: expected multipart/form-data with a boundary, got "
                            f"{ctype.decode('latin-1') or 'none'!r}", "content-type")
    builder = _FormBuilder(folder, file_fields)
    parser = MultipartParser(boundary, builder.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except ApiError:
        raise
    except Exception as e:  # python-multipart's parse errors
        raise ApiError(400, f"body: expected a well-formed multipart form, got {type(e).__name__}: {e}",
                       "body") from None
    finally:
        builder.close()
    return builder.form


async def _read_urlencoded(request) -> Form:
    from urllib.parse import parse_qsl

    raw = b"".join([chunk async for chunk in request.stream()])
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise ApiError(400, "body: expected a UTF-8 url-encoded form, got undecodable bytes", "body") from None
    form = Form()
    for name, value in pairs:
        if name in form.fields:
            raise ApiError(400, f"{name}: expected one value, got several", name)
        form.fields[name] = value
    return form
