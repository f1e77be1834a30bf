"""Tool results and tool errors never hand a secret value to the script."""

from __future__ import annotations

from lua_text import lua_fmt
from tools_helpers import SECRET_NAME, SECRET_VALUE


def cfg(tmp_path) -> dict:
    return {"tools": {"file_operations": {"allowed_paths": [str(tmp_path)]}}}


def test_file_contents_with_a_secret_value_are_redacted(lua, tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_NAME, SECRET_VALUE)
    f = tmp_path / "notes.txt"
    f.write_text(f"token={SECRET_VALUE}\nurl=https://bob:hunter22@example.com/\n")
    run = lua(lua_fmt("""
        local r = Tool.invoke("file_operations", {operation = "read", path = "${f}"})
        local m = Tool.invoke("hash_calculator", {operation = "hash", algorithm = "md5",
                                                   input = "${SECRET_VALUE}"})
        return JSON.stringify(r) .. JSON.stringify(m)
    """, f=f, SECRET_VALUE=SECRET_VALUE), config=cfg(tmp_path))
    assert SECRET_VALUE not in run.value and "hunter22" not in run.value
    assert "***" in run.value


def test_error_messages_are_redacted(lua, tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_NAME, SECRET_VALUE)
    run = lua(lua_fmt("""
        local ok, err = pcall(Tool.invoke, "file_operations",
                              {operation = "read", path = "${tmp_path}/${SECRET_VALUE}.txt"})
        local ok2, err2 = pcall(Tool.invoke, "json_processor", {operation = "query",
                                input = {}, query = "error(\\"${SECRET_VALUE}\\")"})
        return {ok, tostring(err), ok2, tostring(err2)}
    """, tmp_path=tmp_path, SECRET_VALUE=SECRET_VALUE), config=cfg(tmp_path))
    ok, err, ok2, err2 = run.value
    assert ok is False and ok2 is False
    assert SECRET_VALUE not in err and SECRET_VALUE not in err2, (err, err2)
    assert "***" in err


def test_environment_reader_uses_the_secret_filter(lua, monkeypatch):
    # names the old own pattern list missed: passwd, signature, cookie, private key words
    monkeypatch.setenv("LC_DB_PASSWD", "pw-0123456789ab")
    monkeypatch.setenv("LC_REQUEST_SIGNATURE", "sig-0123456789ab")
    monkeypatch.setenv("LC_SESSION_COOKIE", "ck-0123456789ab")
    monkeypatch.setenv("LC_TIME", "C")
    run = lua("""
        local l = Tool.invoke("environment_reader", {operation = "list"})
        local p = Tool.invoke("environment_reader", {operation = "pattern", pattern = "LC_*"})
        local g = Tool.invoke("environment_reader", {operation = "get",
                                                     variable_name = "LC_DB_PASSWD"})
        return {JSON.stringify(l), JSON.stringify(p), g.result.found}
    """)
    listed, pattern, found = run.value
    for name in ("LC_DB_PASSWD", "LC_REQUEST_SIGNATURE", "LC_SESSION_COOKIE"):
        assert name not in listed and name not in pattern
    assert "LC_TIME" in listed and found is False
