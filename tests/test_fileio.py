import os
import stat

import pytest

from jamflow.fileio import atomic_path, write_json_atomic


def test_success_replaces_target_with_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".txt"
        tmp.write_text("new")
        assert not target.exists()  # nothing visible until the block succeeds
    assert target.read_text() == "new"
    mode = stat.S_IMODE(os.stat(target).st_mode)
    assert mode & stat.S_IRGRP and mode & stat.S_IROTH  # not mkstemp's 0600
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer died")
    assert target.read_text().strip() == '{\n "a": 1\n}'
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_temp_dir_is_not_private(tmp_path):
    from jamflow.fileio import make_temp_dir

    d = make_temp_dir(tmp_path, prefix=".x-")
    mode = stat.S_IMODE(os.stat(d).st_mode)
    assert d.parent == tmp_path and d.name.startswith(".x-") and mode & stat.S_IXOTH and mode & stat.S_IROTH
