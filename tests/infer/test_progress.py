"""progress.watch sees every step of a task, and a callback that raises Cancelled stops it cleanly."""
import pytest

from jamflow.progress import Cancelled, report, watch


def test_report_without_a_listener_does_nothing():
    report("sampling", 1, 2)  # no callback: must not raise


def test_watch_sees_sampling_chunks_and_render_steps(jam, tmp_path, fast):
    seen = []
    with watch(lambda stage, done, total: seen.append((stage, done, total))):
        jam.talk("One sentence here. And a second one there. Then a third.", max_chunk_s=1.0,
                 output=tmp_path / "p.mp4", **fast)
    sampling = [s for s in seen if s[0] == "sampling"]
    chunks = [s for s in seen if s[0] == "chunks"]
    render = [s for s in seen if s[0] == "render"]
    assert len(chunks) >= 2 and chunks[-1][1] == chunks[-1][2]
    assert len(sampling) == fast["nfe_step"] * len(chunks)
    assert [d for _, d, _ in sampling[: fast["nfe_step"]]] == list(range(1, fast["nfe_step"] + 1))
    assert render and render[-1][1] == render[-1][2] > 0


def test_watch_ends_with_its_block(jam, fast):
    seen = []
    with watch(lambda *a: seen.append(a)):
        pass
    jam.tts("Nobody listens now.", **fast)
    assert seen == []


def test_cancelled_stops_the_call_and_writes_nothing(jam, tmp_path, fast):
    def stop_at_second_step(stage, done, total):
        if stage == "sampling" and done == 2:
            raise Cancelled("client went away")

    with pytest.raises(Cancelled), watch(stop_at_second_step):
        jam.talk("This is never finished.", output=tmp_path / "c.mp4", **fast)
    assert list(tmp_path.iterdir()) == []
