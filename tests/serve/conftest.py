"""Server fixtures: the app in-process (starlette TestClient) on the session's tiny model, and a real
uvicorn server in a subprocess on a free 127.0.0.1 port. Helpers live in serve_helpers.py."""
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve_helpers import HERE, free_port, make_client, start_server, stop_server  # noqa: E402


@pytest.fixture(scope="module")
def client(jam):
    with make_client(jam) as c:
        yield c


@pytest.fixture(scope="module")
def server(tiny_ckpt):
    """A real uvicorn server (queue 2) in its own process -> (url, process)."""
    port = free_port()
    proc, url = start_server([str(HERE / "serve_app.py"), str(tiny_ckpt), str(port), "--queue", "2"], port)
    yield url, proc
    stop_server(proc)
