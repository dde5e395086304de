import json
import os
import subprocess
import sys

import pytest

from jamflow.native_memory import MALLOC_ARENAS, ONEDNN_PRIMITIVE_CACHE

PROBE = """
import json, os, sys
{before}
from jamflow.native_memory import bound_native_caches
applied = bound_native_caches()
import torch
print(json.dumps([applied, os.environ.get("ONEDNN_PRIMITIVE_CACHE_CAPACITY"), os.environ.get("MALLOC_ARENA_MAX")]))
"""


def probe(before: str = "", **env) -> list:
    clean = {k: v for k, v in os.environ.items() if k not in ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "MALLOC_ARENA_MAX")}
    done = subprocess.run([sys.executable, "-c", PROBE.format(before=before)], env={**clean, **env},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_fresh_process_gets_both_caps():
    applied, onednn, _ = probe()
    assert applied == {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": ONEDNN_PRIMITIVE_CACHE, "MALLOC_ARENA_MAX": MALLOC_ARENAS}
    assert onednn == str(ONEDNN_PRIMITIVE_CACHE)  # in the environment oneDNN reads when torch first uses it


def test_values_the_user_set_win():
    applied, onednn, arenas = probe(ONEDNN_PRIMITIVE_CACHE_CAPACITY="7", MALLOC_ARENA_MAX="3")
    assert applied == {} and onednn == "7" and arenas == "3"


def test_too_late_once_torch_has_started():
    applied, onednn, _ = probe(before="import torch")
    assert "ONEDNN_PRIMITIVE_CACHE_CAPACITY" not in applied and onednn is None


def test_the_jamflow_command_applies_them_before_any_command_runs():
    clean = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}
    code = ("import os, sys; from jamflow.cli import main\n"
            "try: main(['bench', '--help'])\nexcept SystemExit: pass\n"
            "print('cap', os.environ.get('ONEDNN_PRIMITIVE_CACHE_CAPACITY'), 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True, timeout=120)
    assert f"cap {ONEDNN_PRIMITIVE_CACHE} True" in done.stdout, done.stderr[-2000:]  # set, then bench imported torch
