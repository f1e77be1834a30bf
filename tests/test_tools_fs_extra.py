"""archive_handler, file_converter, file_search, file_watcher on real temp files."""

from __future__ import annotations

import os
import tarfile
import threading
import time
import zipfile

import pytest

from llmspell.config import from_dict
from llmspell.errors import ToolError
from llmspell.tools.service import ToolService


def service(root) -> ToolService:
    return ToolService(from_dict({"tools": {"file_operations": {"allowed_paths": [str(root)]}}},
                                 environ={}))


def resp(r):
    return r["metadata"]["response"]


@pytest.mark.parametrize("ext", ["zip", "tar", "tar.gz"])
def test_archive_roundtrip(tmp_path, ext):
    svc = service(tmp_path)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.txt").write_text("beta")
    single = tmp_path / "single.txt"
    single.write_text("one")
    archive = tmp_path / f"out.{ext}"
    c = svc.invoke("archive_handler", {"operation": "create", "path": str(archive),
                                       "input": [str(src), str(single)]})
    assert c["text"].startswith("Created archive with 3 files")
    listed = resp(svc.invoke("archive_handler", {"operation": "list",
                                                 "path": str(archive)}))["result"]
    assert {f["name"] for f in listed["files"]} >= {"src/a.txt", "src/sub/b.txt", "single.txt"}
    assert listed["format"] == {"zip": "ZIP", "tar": "TAR", "tar.gz": "TAR.GZ"}[ext]
    out = tmp_path / "x"
    e = svc.invoke("archive_handler", {"operation": "extract", "path": str(archive),
                                       "target_path": str(out)})
    assert (out / "src" / "sub" / "b.txt").read_text() == "beta"
    assert resp(e)["result"]["total_size"] == 12


def test_single_file_gz(tmp_path):
    svc = service(tmp_path)
    src = tmp_path / "log.txt"
    src.write_text("line\n" * 100)
    c = svc.invoke("archive_handler", {"operation": "create", "path": str(tmp_path / "log.txt.gz"),
                                       "input": [str(src)]})
    assert resp(c)["result"]["archived_files"] == [str(src)]
    listed = resp(svc.invoke("archive_handler", {"operation": "list",
                                                 "path": str(tmp_path / "log.txt.gz")}))
    assert listed["result"]["files"][0]["name"] == "<compressed file>"
    assert listed["message"] == "Listed 1 files in GZ archive"
    svc.invoke("archive_handler", {"operation": "extract", "path": str(tmp_path / "log.txt.gz"),
                                   "target_path": str(tmp_path / "out")})
    assert (tmp_path / "out" / "log.txt").read_text() == "line\n" * 100


def test_zip_slip_refused(tmp_path):
    svc = service(tmp_path)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr("../../escaped.txt", "evil")
    with pytest.raises(ToolError, match="Security violation: Archive entry has an unsafe path"):
        svc.invoke("archive_handler", {"operation": "extract", "path": str(bad),
                                       "target_path": str(tmp_path / "out")})
    assert not (tmp_path.parent / "escaped.txt").exists()
    assert not (tmp_path / "out" / "ok.txt").exists()  # checked before writing anything


def test_tar_symlink_refused(tmp_path):
    svc = service(tmp_path)
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tf:
        link = tarfile.TarInfo("link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tf.addfile(link)
    with pytest.raises(ToolError, match="link or special file"):
        svc.invoke("archive_handler", {"operation": "extract", "path": str(bad),
                                       "target_path": str(tmp_path / "out")})


def test_zip_bomb_ratio_refused(tmp_path):
    svc = service(tmp_path)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros", b"\0" * (5 * 1024 * 1024))
    with pytest.raises(ToolError, match="compression ratio"):
        svc.invoke("archive_handler", {"operation": "extract", "path": str(bomb),
                                       "target_path": str(tmp_path / "out")})


def test_archive_outside_sandbox(tmp_path):
    inside = tmp_path / "in"
    inside.mkdir()
    with pytest.raises(ToolError, match="Security violation"):
        service(inside).invoke("archive_handler", {"operation": "create",
                                                   "path": str(inside / "a.zip"),
                                                   "input": ["/etc/hostname"]})


def test_file_converter(tmp_path):
    svc = service(tmp_path)
    f = tmp_path / "t.txt"
    f.write_bytes(b"a\r\nb\rc\n")
    svc.invoke("file_converter", {"operation": "line_endings", "path": str(f),
                                  "line_ending": "lf"})
    assert f.read_bytes() == b"a\nb\nc\n"
    out = tmp_path / "u16.txt"
    r = svc.invoke("file_converter", {"operation": "encoding", "path": str(f),
                                      "target_path": str(out), "to_encoding": "utf16le"})
    assert out.read_bytes() == "a\nb\nc\n".encode("utf-16-le")
    assert r["text"] == "File conversion completed successfully"
    tabs = tmp_path / "tabs.py"
    tabs.write_text("\tx = 1\n\t\ty\n")
    svc.invoke("file_converter", {"operation": "indentation", "path": str(tabs),
                                  "tab_size": 2})
    assert tabs.read_text() == "  x = 1\n    y\n"
    latin = tmp_path / "l.txt"
    latin.write_bytes("café".encode("cp1252"))
    svc.invoke("file_converter", {"operation": "encoding", "path": str(latin),
                                  "to_encoding": "utf-8"})
    assert latin.read_text("utf-8") == "café"


def test_file_search(tmp_path):
    svc = service(tmp_path)
    (tmp_path / "a.py").write_text("import os\n# TODO fix\nprint(1)\n")
    (tmp_path / "b.md").write_text("nothing\ntodo later\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "c.py").write_text("TODO hidden\n")
    (tmp_path / "bin").write_bytes(b"\x00TODO")
    r = svc.invoke("file_search", {"path": str(tmp_path), "pattern": "todo",
                                   "context_lines": 1})
    res = resp(r)["result"]
    assert {m["file_path"].rsplit("/", 1)[1] for m in res["matches"]} == {"a.py", "b.md"}
    m = next(m for m in res["matches"] if m["file_path"].endswith("a.py"))
    assert m["line_number"] == 2 and m["context_before"] == ["import os"]
    assert m["context_after"] == ["print(1)"] and m["matched_text"] == "TODO"
    assert r["text"] == "Found 2 matches across 2 files. Search pattern: 'todo'"  # bin skipped
    only_py = svc.invoke("file_search", {"path": str(tmp_path), "pattern": r"TODO\s+\w+",
                                         "use_regex": True, "case_sensitive": True,
                                         "include_extensions": ["py"]})
    assert resp(only_py)["result"]["summary"]["total_matches"] == 1
    with pytest.raises(ToolError, match="Invalid regex"):
        svc.invoke("file_search", {"path": str(tmp_path), "pattern": "(", "use_regex": True})


def test_file_search_regex_is_time_limited(tmp_path, monkeypatch):
    from llmspell.tools import patterns

    monkeypatch.setattr(patterns, "DEFAULT_SECONDS", 0.2)
    (tmp_path / "a.txt").write_text("a" * 60 + "b\n")
    svc = service(tmp_path)
    with pytest.raises(ToolError, match="took longer than"):
        svc.invoke("file_search", {"path": str(tmp_path), "pattern": "(a|aa)+$",
                                   "use_regex": True})
    with pytest.raises(ToolError, match="took longer than"):
        svc.invoke("data_validation", {"input": "a" * 60 + "b",
                                       "rules": {"rules": [{"type": "pattern",
                                                            "regex": "(a|aa)+$"}]}})


def test_file_search_skips_symlinks_leaving_root(tmp_path):
    inside, outside = tmp_path / "in", tmp_path / "out"
    inside.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("password=hunter2\n")
    os.symlink(outside / "secret.txt", inside / "link.txt")
    r = service(inside).invoke("file_search", {"path": str(inside), "pattern": "password"})
    res = resp(r)["result"]
    assert res["matches"] == []
    assert res["skipped_files"][0]["reason"] == "outside allowed paths"


def test_file_watcher_sees_changes(tmp_path):
    svc = service(tmp_path)
    (tmp_path / "keep.txt").write_text("1")
    (tmp_path / "gone.txt").write_text("x")

    def mutate():
        time.sleep(0.15)
        (tmp_path / "new.txt").write_text("n")
        (tmp_path / "keep.txt").write_text("22")
        (tmp_path / "gone.txt").unlink()

    t = threading.Thread(target=mutate)
    t.start()
    r = svc.invoke("file_watcher", {"operation": "watch", "input": [str(tmp_path)],
                                    "timeout_ms": 600, "debounce_ms": 50})
    t.join()
    kinds = {(e["event_type"], e["path"].rsplit("/", 1)[1]) for e in r["result"]["events"]}
    assert {("Create", "new.txt"), ("Modify", "keep.txt"), ("Delete", "gone.txt")} <= kinds
    assert r["message"] == f"Captured {r['result']['event_count']} file events"
    assert svc.invoke("file_watcher", {"operation": "config"})["result"]["max_paths"] == 100
    with pytest.raises(ToolError, match="Security violation"):
        svc.invoke("file_watcher", {"operation": "watch", "input": ["/etc"], "timeout_ms": 1})


