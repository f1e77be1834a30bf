"""Media tools: no image or WAV conversion allocates hundreds of MB."""

from __future__ import annotations

import struct
import wave

from lua_text import lua_fmt
from PIL import Image
from tools_helpers import run_cli


def config(root) -> str:
    return f'[tools.file_operations]\nallowed_paths = ["{root}"]\n'


def test_resize_to_a_giant_image_is_refused(tmp_path):
    Image.new("RGB", (10, 10)).save(tmp_path / "small.png")
    Image.new("L", (5000, 5000)).save(tmp_path / "wide.png")  # allowed; turned 45° it is not
    done = run_cli(lua_fmt("""
        local ok, err = pcall(Tool.invoke, "image_processor", {operation = "resize",
            source_path = "${tmp_path}/small.png", target_path = "${tmp_path}/big.png",
            width = 20000, height = 20000, maintain_aspect_ratio = false})
        print(ok, err)
        local ok2, err2 = pcall(Tool.invoke, "image_processor", {operation = "rotate",
            source_path = "${tmp_path}/wide.png", target_path = "${tmp_path}/r.png",
            degrees = 45})
        print(ok2, err2)
    """, tmp_path=tmp_path), tmp_path, config=config(tmp_path))
    lines = done.stdout.splitlines()
    assert lines[0].startswith("false") and "too large" in lines[0], done
    assert lines[1].startswith("false") and "too large" in lines[1], done
    assert not (tmp_path / "big.png").exists() and not (tmp_path / "r.png").exists()
    assert done.max_rss_mb < 250, done.max_rss_mb


def test_image_with_too_many_pixels_is_refused_before_decoding(tmp_path):
    Image.new("1", (9000, 8000)).save(tmp_path / "huge.png")  # 72 M pixels, a few KB
    done = run_cli(lua_fmt("""
        local ok, err = pcall(Tool.invoke, "image_processor", {operation = "convert",
            source_path = "${tmp_path}/huge.png", target_path = "${tmp_path}/huge.bmp"})
        print(ok, err)
    """, tmp_path=tmp_path), tmp_path, config=config(tmp_path))
    assert done.stdout.startswith("false") and "too large" in done.stdout, done
    assert done.max_rss_mb < 250, done.max_rss_mb


def test_wav_conversion_memory_stays_small(tmp_path):
    src = tmp_path / "long.wav"
    with wave.open(str(src), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(struct.pack("<hh", 1000, -1000) * (6 * 1024 * 1024))  # 24 MiB
    done = run_cli(lua_fmt("""
        local r = Tool.invoke("audio_processor", {operation = "convert",
            source_path = "${src}", target_path = "${tmp_path}/mono.wav", channels = 1})
        print(r.success)
    """, src=src, tmp_path=tmp_path), tmp_path, config=config(tmp_path), timeout=120)
    assert done.stdout.startswith("true"), done
    with wave.open(str(tmp_path / "mono.wav")) as w:
        assert w.getnchannels() == 1 and w.getnframes() == 6 * 1024 * 1024
    assert done.max_rss_mb < 250, done.max_rss_mb
