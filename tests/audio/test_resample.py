"""audio/resample.py: the numpy polyphase resampler computes what scipy's resample_poly computes with
the same filter, and the inference path never imports scipy.signal (~0.9 s on a 2-core machine)."""
import math
import subprocess
import sys

import numpy as np
import pytest

from jamflow.audio.resample import kaiser_lowpass, resample_poly


@pytest.mark.parametrize("orig,target", [(16000, 24000), (44100, 24000), (48000, 24000), (22050, 24000),
                                         (24000, 16000), (8000, 24000), (96000, 24000)])
@pytest.mark.parametrize("n", [1, 2, 7, 500, 4801])
def test_matches_scipy_resample_poly_with_the_same_window(orig, target, n):
    from scipy.signal import firwin
    from scipy.signal import resample_poly as scipy_resample_poly

    g = math.gcd(orig, target)
    up, down = target // g, orig // g
    factor = max(up, down)
    taps, cutoff = 40 * factor + 1, 0.9 / factor
    h = kaiser_lowpass(taps, cutoff, beta=8.0)
    np.testing.assert_allclose(h, firwin(taps, cutoff, window=("kaiser", 8.0)), rtol=0, atol=1e-15)
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    want = scipy_resample_poly(x, up, down, window=h)
    got = resample_poly(x, up, down, h)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_unit_gain_at_dc_and_a_centred_impulse_response():
    h = kaiser_lowpass(161, 0.5, beta=8.0)
    assert h.sum() == pytest.approx(1.0) and np.allclose(h, h[::-1])
    out = resample_poly(np.ones(400), 2, 1, h)
    assert np.allclose(out[100:-100], 1.0, atol=1e-6)  # away from the zero-padded ends
    impulse = np.zeros(101)
    impulse[50] = 1.0
    assert int(np.argmax(resample_poly(impulse, 3, 2, kaiser_lowpass(121, 1 / 3, 8.0)))) == 75  # 50 * 3 / 2


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="odd taps"):
        kaiser_lowpass(10, 0.5, 8.0)
    with pytest.raises(ValueError, match="expected a 1-D signal"):
        resample_poly(np.zeros((2, 3)), 2, 1, kaiser_lowpass(11, 0.5, 8.0))


def test_the_talk_path_and_resampling_a_reference_do_not_import_scipy_signal(tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "ref.wav", np.zeros(16000, np.float32), 16000)
    talk_path = "jamflow.infer.api, jamflow.audio.reference, jamflow.infer.stream, jamflow.render.avatar, jamflow.serve.app"
    code = (f"import sys; import {talk_path}; from jamflow.audio.io import load_audio; "
            f"assert len(load_audio({str(tmp_path / 'ref.wav')!r})) == 24000; "
            "print('scipy.signal' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
