"""Media tools with files generated in the test (WAV via wave, images via Pillow,
MP4/AVI headers built byte by byte)."""

from __future__ import annotations

import shutil
import struct
import wave

import pytest

from llmspell.config import from_dict
from llmspell.errors import ToolError
from llmspell.tools.service import ToolService


@pytest.fixture
def svc(tmp_path) -> ToolService:
    return ToolService(from_dict({"tools": {"file_operations": {
        "allowed_paths": [str(tmp_path)]}}}, environ={}))


def make_wav(path, channels=2, width=2, rate=8000, frames=4000):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", (i * 37) % 3000 - 1500) * channels
                               for i in range(frames)))


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def make_mp4(path, seconds=3, width=320, height=240):
    mvhd = bytes(4) + bytes(8) + struct.pack(">II", 1000, seconds * 1000) + bytes(80)
    tkhd = bytes(4) + bytes(72) + struct.pack(">II", width << 16, height << 16)
    path.write_bytes(box(b"ftyp", b"isom\0\0\0\0isom") +
                     box(b"moov", box(b"mvhd", mvhd) + box(b"trak", box(b"tkhd", tkhd))))


def test_audio_wav(svc, tmp_path):
    wav = tmp_path / "a.wav"
    make_wav(wav)
    d = svc.invoke("audio_processor", {"operation": "detect", "file_path": str(wav)})
    assert d["result"]["format"] == "Wav" and d["result"]["supported"] is True
    m = svc.invoke("audio_processor", {"file_path": str(wav)})["result"]["metadata"]
    assert m["sample_rate"] == 8000 and m["channels"] == 2 and m["duration_seconds"] == 0.5
    assert m["bits_per_sample"] == 16
    out = tmp_path / "mono8.wav"
    c = svc.invoke("audio_processor", {"operation": "convert", "source_path": str(wav),
                                       "target_path": str(out), "channels": 1,
                                       "bits_per_sample": 8})
    assert c["result"]["success"] is True
    with wave.open(str(out)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getnframes()) == (1, 1, 4000)
    with pytest.raises(ToolError, match="needs an encoder"):
        svc.invoke("audio_processor", {"operation": "convert", "source_path": str(wav),
                                       "target_path": str(tmp_path / "x.mp3"),
                                       "target_format": "mp3"})


def test_image_metadata_and_transforms(svc, tmp_path):
    from PIL import Image

    src = tmp_path / "pic.png"
    Image.new("RGBA", (200, 100), (255, 0, 0, 255)).save(src)
    meta = svc.invoke("image_processor", {"file_path": str(src)})["result"]["metadata"]
    assert meta["format"] == "Png" and meta["dimensions"] == {"width": 200, "height": 100}
    assert meta["color_mode"] == "RGBA"
    det = svc.invoke("image_processor", {"operation": "detect", "file_path": str(src)})
    assert det["result"]["mime_type"] == "image/png" and det["result"]["format"] == "Png"
    r = svc.invoke("image_processor", {"operation": "resize", "source_path": str(src),
                                       "target_path": str(tmp_path / "small.png"),
                                       "width": 50, "height": 50})
    assert r["result"]["dimensions"] == {"width": 50, "height": 25}
    assert r["result"]["maintain_aspect_ratio"] is True and r["result"]["width"] == 50
    up = svc.invoke("image_processor", {"operation": "resize", "source_path": str(src),
                                        "target_path": str(tmp_path / "big.png"), "height": 300})
    assert up["result"]["dimensions"] == {"width": 600, "height": 300}
    svc.invoke("image_processor", {"operation": "convert", "source_path": str(src),
                                   "target_path": str(tmp_path / "pic.jpg")})
    with Image.open(tmp_path / "pic.jpg") as j:
        assert j.format == "JPEG" and j.size == (200, 100)
    rot = svc.invoke("image_processor", {"operation": "rotate", "source_path": str(src),
                                         "target_path": str(tmp_path / "r.png"), "degrees": 90})
    assert rot["result"]["dimensions"] == {"width": 100, "height": 200}
    crop = svc.invoke("image_processor", {"operation": "crop", "source_path": str(src),
                                          "target_path": str(tmp_path / "c.png"), "x": 10,
                                          "y": 10, "width": 20, "height": 30})
    assert crop["result"]["dimensions"] == {"width": 20, "height": 30}
    assert (crop["result"]["x"], crop["result"]["y"]) == (10, 10)
    th = svc.invoke("image_processor", {"operation": "thumbnail", "source_path": str(src),
                                        "target_path": str(tmp_path / "t.webp"),
                                        "max_width": 64, "max_height": 64})
    assert th["result"]["format"] == "webp" and th["result"]["dimensions"]["width"] == 64
    (tmp_path / "bad.png").write_text("no image")
    with pytest.raises(ToolError, match="Cannot read image"):
        svc.invoke("image_processor", {"file_path": str(tmp_path / "bad.png")})


def test_media_paths_sandboxed(svc):
    for tool in ("audio_processor", "image_processor", "video_processor"):
        with pytest.raises(ToolError, match="Security violation"):
            svc.invoke(tool, {"file_path": "/etc/hostname"})


def test_video_headers(svc, tmp_path):
    mp4 = tmp_path / "v.mp4"
    make_mp4(mp4)
    m = svc.invoke("video_processor", {"file_path": str(mp4)})["result"]["metadata"]
    assert m["format"] == "Mp4" and m["duration_seconds"] == 3
    assert m["resolution"] == {"width": 320, "height": 240}
    avih = struct.pack("<10I", 40000, 0, 0, 0, 250, 0, 1, 0, 640, 480)
    avi = tmp_path / "v.avi"
    avi.write_bytes(b"RIFF" + struct.pack("<I", 100) + b"AVI LIST" + struct.pack("<I", 60) +
                    b"hdrlavih" + struct.pack("<I", 56) + avih + bytes(16))
    a = svc.invoke("video_processor", {"file_path": str(avi)})["result"]["metadata"]
    assert a["format"] == "Avi" and a["fps"] == 25 and a["duration_seconds"] == 10
    assert a["resolution"] == {"width": 640, "height": 480}
    with pytest.raises(ToolError, match="allow_process_execution"):  # ffmpeg is a process
        svc.invoke("video_processor", {"operation": "thumbnail", "file_path": str(mp4),
                                       "target_path": str(tmp_path / "t.png")})
    if shutil.which("ffmpeg") is None:
        granted = ToolService(from_dict({"tools": {
            "file_operations": {"allowed_paths": [str(tmp_path)]},
            "system": {"allow_process_execution": True}}}, environ={}))
        with pytest.raises(ToolError, match="needs ffmpeg on PATH"):
            granted.invoke("video_processor", {"operation": "thumbnail", "file_path": str(mp4),
                                               "target_path": str(tmp_path / "t.png")})
