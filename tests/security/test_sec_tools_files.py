"""Folder copy and archive extraction: no links out of the allowed roots, bounded output."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile

from tools_helpers import run_cli


def setup(tmp_path):
    allowed = tmp_path / "allowed"
    outside = tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (outside / "private.txt").write_text("outside-secret-content")
    cfg = {"tools": {"file_operations": {"allowed_paths": [str(allowed)]}}}
    return allowed, outside, cfg


def call(lua, tool: str, params: str, cfg: dict) -> tuple[bool, str]:
    run = lua(f"""
        local ok, r = pcall(Tool.invoke, "{tool}", {params})
        if not ok then return {{false, tostring(r)}} end
        return {{r.success ~= false, JSON.stringify(r)}}
    """, config=cfg)
    return run.value[0], run.value[1]


def tree_text(root) -> str:
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            if os.path.islink(p):
                out.append("LINK " + os.readlink(p))
            else:
                with open(p, errors="replace") as fh:
                    out.append(fh.read())
    return "\n".join(out)


def test_folder_copy_does_not_follow_links_out(lua, tmp_path):
    allowed, outside, cfg = setup(tmp_path)
    src = allowed / "src"
    src.mkdir()
    (src / "ok.txt").write_text("fine")
    os.symlink(outside, src / "escape_dir")
    os.symlink(outside / "private.txt", src / "escape_file")
    ok, text = call(lua, "file_operations", f'{{operation = "copy", source_path = "{src}", '
                                            f'target_path = "{allowed}/dst"}}', cfg)
    if (allowed / "dst").exists():
        assert "outside-secret-content" not in tree_text(allowed / "dst")
    assert not ok and "link" in text.lower(), text


def test_folder_copy_keeps_inside_links_as_links(lua, tmp_path):
    allowed, _outside, cfg = setup(tmp_path)
    src = allowed / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.txt").write_text("A")
    os.symlink("sub/a.txt", src / "link_a")
    ok, text = call(lua, "file_operations", f'{{operation = "copy", source_path = "{src}", '
                                            f'target_path = "{allowed}/dst"}}', cfg)
    assert ok, text
    assert os.readlink(allowed / "dst" / "link_a") == "sub/a.txt"
    assert (allowed / "dst" / "sub" / "a.txt").read_text() == "A"


def test_zip_of_many_small_members_is_refused(lua, tmp_path):
    allowed, _outside, cfg = setup(tmp_path)
    archive = allowed / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        block = b"\0" * (1024 * 1024)
        for i in range(200):
            zf.writestr(f"m{i}.bin", block)
    ok, text = call(lua, "archive_handler", f'{{operation = "extract", path = "{archive}", '
                                            f'target_path = "{allowed}/out"}}', cfg)
    written = sum(f.stat().st_size for f in (allowed / "out").rglob("*") if f.is_file()) \
        if (allowed / "out").exists() else 0
    assert not ok and ("bomb" in text or "ratio" in text), text
    assert written < 16 * 1024 * 1024, written


def test_tar_gz_bomb_is_refused(lua, tmp_path):
    allowed, _outside, cfg = setup(tmp_path)
    archive = allowed / "bomb.tar.gz"
    block = b"\0" * (512 * 1024)
    with tarfile.open(archive, "w:gz") as tf:
        for i in range(300):
            info = tarfile.TarInfo(f"m{i}.bin")
            info.size = len(block)
            tf.addfile(info, io.BytesIO(block))
    ok, text = call(lua, "archive_handler", f'{{operation = "extract", path = "{archive}", '
                                            f'target_path = "{allowed}/out"}}', cfg)
    written = sum(f.stat().st_size for f in (allowed / "out").rglob("*") if f.is_file()) \
        if (allowed / "out").exists() else 0
    assert not ok and ("bomb" in text or "ratio" in text), text
    assert written < 16 * 1024 * 1024, written


def test_tar_links_and_traversal_are_refused(lua, tmp_path):
    allowed, outside, cfg = setup(tmp_path)
    for n, (kind, name, target) in enumerate([
            (tarfile.SYMTYPE, "innocent", str(outside / "private.txt")),
            (tarfile.LNKTYPE, "hard", str(outside / "private.txt")),
            (tarfile.REGTYPE, "../escape.txt", ""),
            (tarfile.REGTYPE, "/abs.txt", "")]):
        archive = allowed / f"t{n}.tar"
        with tarfile.open(archive, "w") as tf:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = target
            tf.addfile(info, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
        ok, text = call(lua, "archive_handler", f'{{operation = "extract", path = "{archive}", '
                                                f'target_path = "{allowed}/out{n}"}}', cfg)
        assert not ok, (name, text)
    assert not (tmp_path / "escape.txt").exists()
    assert "outside-secret-content" not in tree_text(allowed)


def test_file_search_skips_fifos(tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "a.txt").write_text("needle here")
    os.mkfifo(allowed / "pipe.txt")
    done = run_cli(f"""
        local r = Tool.invoke("file_search", {{path = "{allowed}", pattern = "needle"}})
        print(r.success, JSON.stringify(r.result or r))
    """, tmp_path, config=f'[tools.file_operations]\nallowed_paths = ["{allowed}"]\n',
                   timeout=30)
    assert done.code == 0 and "a.txt" in done.stdout, (done.code, done.stdout, done.stderr)
