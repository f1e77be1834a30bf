"""Media tools: audio_processor, image_processor, video_processor.

Audio: WAV through the stdlib ``wave`` module, tags and stream info of MP3/FLAC/OGG/M4A
through mutagen; WAV -> WAV conversion (sample width, channels) is done here. Images:
Pillow for metadata, resize, convert, crop, rotate and thumbnail. Video: container headers
(MP4/MOV boxes, AVI RIFF, WebM/MKV EBML) parsed here; frames need ffmpeg on PATH.
All paths go through the path guard.
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ToolError, ToolValidationError
from .registry import ToolOutput, ToolSpec, ok
from .schema import Param, Params

if TYPE_CHECKING:
    from .context import ToolContext

AUDIO_LIMIT = 500 * 1024 * 1024
IMAGE_LIMIT = 100 * 1024 * 1024
VIDEO_LIMIT = 1024 * 1024 * 1024
CONVERT_FRAMES = 65536  # WAV frames converted at a time
CONVERT_SECONDS = 60.0
# Pixels an image may have, read or made (resize/rotate): 25 M pixels is 100 MB as RGBA.
MAX_PIXELS = 25_000_000


def _existing(ctx: ToolContext, p: Params, name: str, limit: int) -> Path:
    path = ctx.guard.check(p.req_str(name), name)
    if not path.is_file():
        raise ToolError(f"File not found: {p.str(name)}")
    if path.stat().st_size > limit:
        raise ToolValidationError(f"File too large: {p.str(name)} (limit {limit} bytes)")
    return path


def _detect_or_describe(ctx: ToolContext, p: Params, op: str, limit: int,
                        sniff: Callable[[Path], str],
                        describe: Callable[[Path, str], dict[str, Any]]) -> ToolOutput:
    """The audio and video ``detect`` and ``metadata`` operations: the ``file_path`` file
    (checked, at most ``limit`` bytes), its format, and for ``metadata`` what
    ``describe(path, format)`` reads from it."""
    path = _existing(ctx, p, "file_path", limit)
    fmt = sniff(path)
    if op == "detect":
        return ok("detect", {"file_path": p.str("file_path"), "format": fmt,
                             "supported": fmt != "Unknown"})
    return ok("metadata", {"file_path": p.str("file_path"), "metadata": describe(path, fmt)})


def _head(path: Path, n: int = 64) -> bytes:
    with path.open("rb") as fh:
        return fh.read(n)


# -- audio ----------------------------------------------------------------------------

def _audio_format(path: Path) -> str:
    h = _head(path, 12)
    if h[:4] == b"RIFF" and h[8:12] == b"WAVE":
        return "Wav"
    if h[:3] == b"ID3" or (len(h) > 1 and h[0] == 0xFF and h[1] & 0xE0 == 0xE0):
        return "Mp3"
    if h[:4] == b"fLaC":
        return "Flac"
    if h[:4] == b"OggS":
        return "Ogg"
    if h[4:8] == b"ftyp":
        return "M4a"
    return {".wav": "Wav", ".mp3": "Mp3", ".flac": "Flac", ".ogg": "Ogg",
            ".m4a": "M4a"}.get(path.suffix.lower(), "Unknown")


def _audio_metadata(path: Path, fmt: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"format": fmt, "duration_seconds": None, "sample_rate": None,
                            "channels": None, "bit_rate": None, "bits_per_sample": None,
                            "title": None, "artist": None, "album": None, "year": None,
                            "file_size": path.stat().st_size}
    if fmt == "Wav":
        import wave

        try:
            with wave.open(str(path), "rb") as w:
                frames, rate = w.getnframes(), w.getframerate()
                meta.update(sample_rate=rate, channels=w.getnchannels(),
                            bits_per_sample=w.getsampwidth() * 8,
                            duration_seconds=frames / rate if rate else None,
                            bit_rate=rate * w.getnchannels() * w.getsampwidth() * 8)
        except (wave.Error, EOFError) as exc:
            raise ToolError(f"Invalid WAV file: {exc}") from None
        return meta
    import mutagen

    try:
        audio = mutagen.File(str(path), easy=True)
    except mutagen.MutagenError as exc:
        raise ToolError(f"Cannot read audio file: {exc}") from None
    if audio is None:
        raise ToolError(f"Unrecognised audio file: {path.name}")
    info = audio.info
    meta.update(duration_seconds=getattr(info, "length", None),
                sample_rate=getattr(info, "sample_rate", None),
                channels=getattr(info, "channels", None),
                bit_rate=getattr(info, "bitrate", None),
                bits_per_sample=getattr(info, "bits_per_sample", None))
    tags = audio.tags or {}
    for key in ("title", "artist", "album", "date", "genre"):
        value = tags.get(key) if hasattr(tags, "get") else None
        if value:
            meta[key] = value[0] if isinstance(value, list) else str(value)
    if meta.get("date") and str(meta["date"])[:4].isdigit():
        meta["year"] = int(str(meta["date"])[:4])
    return meta


def _audio(ctx: ToolContext, p: Params) -> ToolOutput:
    op = p.str("operation", "metadata")
    if op in ("detect", "metadata"):
        return _detect_or_describe(ctx, p, op, AUDIO_LIMIT, _audio_format, _audio_metadata)
    if op == "convert":
        import wave

        src = _existing(ctx, p, "source_path", AUDIO_LIMIT)
        dst = ctx.guard.check(p.req_str("target_path"), "target_path")
        target = p.str("target_format", "wav").lower()
        if _audio_format(src) != "Wav":
            raise ToolError("Audio conversion reads WAV input only (decoding compressed "
                            "formats needs a codec library llmspell does not bundle)")
        if target != "wav":
            raise ToolError(f"Converting to {target} is not supported: it needs an encoder "
                            "llmspell does not bundle (only WAV output)")
        channels = p.int("channels")
        width = p.int("bits_per_sample")
        with wave.open(str(src), "rb") as r:
            params = r.getparams()
            out_width = params.sampwidth if width is None else width // 8
            if out_width not in (1, 2, 3, 4):
                raise ToolValidationError("bits_per_sample must be 8, 16, 24 or 32")
            if channels is not None and not 1 <= channels <= 64:
                raise ToolValidationError("channels must be between 1 and 64")
            out_size = params.nframes * (channels or params.nchannels) * out_width
            if out_size > ctx.guard.max_file_size:  # up to 256x the input (8-bit mono in)
                raise ToolValidationError(f"The converted WAV would be {out_size} bytes "
                                          f"(limit {ctx.guard.max_file_size} bytes)")
            dst.parent.mkdir(parents=True, exist_ok=True)
            deadline = time.monotonic() + ctx.timeout(CONVERT_SECONDS)
            with wave.open(str(dst), "wb") as w:
                w.setnchannels(channels or params.nchannels)
                w.setsampwidth(out_width)
                w.setframerate(params.framerate)
                # a chunk of frames at a time: memory stays small whatever the file size
                while data := r.readframes(CONVERT_FRAMES):
                    samples = _wav_samples(data, params.sampwidth)
                    if channels is not None and channels != params.nchannels:
                        samples = _remix(samples, params.nchannels, channels)
                    w.writeframes(_wav_bytes(samples, params.sampwidth, out_width))
                    if time.monotonic() > deadline or ctx.stopped():
                        raise ToolError(f"WAV conversion ran longer than {CONVERT_SECONDS:g} "
                                        "s and was stopped")
        return ok("convert", {"source_path": p.str("source_path"),
                              "target_path": p.str("target_path"), "target_format": "wav",
                              "success": True})
    raise ToolValidationError(f"Operation '{op}' is not supported (detect, metadata, convert)")


def _wav_samples(data: bytes, width: int) -> list[int]:
    if width == 1:
        return [b - 128 for b in data]
    out = []
    for i in range(0, len(data) - width + 1, width):
        out.append(int.from_bytes(data[i:i + width], "little", signed=True))
    return out


def _remix(samples: list[int], src: int, dst: int) -> list[int]:
    frames = [samples[i:i + src] for i in range(0, len(samples), src)]
    out: list[int] = []
    for f in frames:
        mono = sum(f) // len(f)
        out.extend([mono] * dst if dst != src else f)
    return out


def _wav_bytes(samples: list[int], src_width: int, dst_width: int) -> bytes:
    shift = (dst_width - src_width) * 8
    out = bytearray()
    for s in samples:
        v = s << shift if shift >= 0 else s >> -shift
        if dst_width == 1:
            out.append(max(0, min(255, v + 128)))
        else:
            out += int(v).to_bytes(dst_width, "little", signed=True)
    return bytes(out)


AUDIO_PROCESSOR = ToolSpec(
    name="audio_processor", category="media",
    description="Detect audio formats, read WAV/MP3/FLAC/OGG metadata and tags, convert WAV "
                "(channels, sample width)",
    params=[
        Param("operation", "string", "detect | metadata | convert", default="metadata"),
        Param("file_path", "string", "Audio file (detect, metadata)"),
        Param("source_path", "string", "convert: input WAV"),
        Param("target_path", "string", "convert: output WAV"),
        Param("target_format", "string", "convert: wav", default="wav"),
        Param("channels", "integer", "convert: output channels"),
        Param("bits_per_sample", "integer", "convert: 8, 16, 24 or 32"),
    ],
    execute=_audio,
)


# -- image ----------------------------------------------------------------------------

_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp",
         "BMP": "image/bmp", "TIFF": "image/tiff", "ICO": "image/x-icon"}
_FORMAT_NAMES = {"PNG": "Png", "JPEG": "Jpeg", "GIF": "Gif", "WEBP": "Webp", "BMP": "Bmp",
                 "TIFF": "Tiff", "ICO": "Ico"}  # upstream's enum names
_SAVE_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "gif": "GIF", "webp": "WEBP",
                 "bmp": "BMP", "tiff": "TIFF"}


def _open_image(path: Path) -> Any:
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own guard, for formats it decodes lazily
    try:
        img = Image.open(path)
        _check_pixels(img.width, img.height, path.name)  # before decoding anything
        img.load()
        return img
    except Image.DecompressionBombError:
        raise ToolValidationError(f"Image too large: {path.name} has more than {MAX_PIXELS} "
                                  "pixels") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ToolError(f"Cannot read image {path.name}: {exc}") from None


def _check_pixels(width: int, height: int, what: str) -> None:
    if width * height > MAX_PIXELS:
        raise ToolValidationError(f"Image too large: {what} would be {width}x{height} pixels "
                                  f"(limit {MAX_PIXELS} pixels)")


def _save(img: Any, dst: Path, fmt_name: str | None) -> str:
    fmt = _SAVE_FORMATS.get((fmt_name or dst.suffix.lstrip(".")).lower())
    if fmt is None:
        raise ToolValidationError(f"Unsupported target format: {fmt_name or dst.suffix}")
    if fmt == "JPEG" and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    dst.parent.mkdir(parents=True, exist_ok=True)
    img.save(dst, fmt)
    return fmt.lower()


def _image(ctx: ToolContext, p: Params) -> ToolOutput:
    op = p.str("operation", "metadata")
    if op in ("detect", "metadata"):
        path = _existing(ctx, p, "file_path", IMAGE_LIMIT)
        if op == "detect":
            from PIL import Image, UnidentifiedImageError

            try:
                with Image.open(path) as img:
                    fmt = img.format or "Unknown"
            except (UnidentifiedImageError, OSError):
                fmt = "Unknown"
            return ok("detect", {"file_path": p.str("file_path"),
                                 "format": _FORMAT_NAMES.get(fmt, "Unknown"),
                                 "mime_type": _MIME.get(fmt, "application/octet-stream"),
                                 "supported": fmt in _FORMAT_NAMES})
        img = _open_image(path)
        exif = {}
        try:
            from PIL import ExifTags

            for k, v in (img.getexif() or {}).items():
                exif[ExifTags.TAGS.get(k, str(k))] = str(v)
        except (AttributeError, ValueError):
            pass
        bits = {"1": 1, "L": 8, "P": 8, "RGB": 8, "RGBA": 8, "I;16": 16, "I": 32, "F": 32}
        dpi = img.info.get("dpi")
        return ok("metadata", {"file_path": p.str("file_path"), "metadata": {
            "format": _FORMAT_NAMES.get(img.format or "", "Unknown"),
            "dimensions": {"width": img.width, "height": img.height},
            "color_mode": img.mode, "bit_depth": bits.get(img.mode),
            "file_size": path.stat().st_size,
            "dpi": [round(dpi[0]), round(dpi[1])] if dpi else None,
            "exif": exif or None}})
    if op not in ("resize", "convert", "crop", "rotate", "thumbnail"):
        raise ToolValidationError(f"Operation '{op}' is not supported")
    src_name = "source_path" if "source_path" in p else "file_path"
    src = _existing(ctx, p, src_name, IMAGE_LIMIT)
    dst = ctx.guard.check(p.req_str("target_path"), "target_path")
    img = _open_image(src)
    info: dict[str, Any] = {"source_path": p.str(src_name), "target_path": p.str("target_path")}
    if op == "resize":
        width, height = p.int("width"), p.int("height")
        if width is None and height is None:
            raise ToolValidationError("resize needs 'width' and/or 'height'")
        keep = p.bool("maintain_aspect_ratio", True)
        w = width or (round(img.width * height / img.height) if keep else img.width)
        h = height or (round(img.height * width / img.width) if keep else img.height)
        if not (0 < w <= 20000 and 0 < h <= 20000):
            raise ToolValidationError("width and height must be between 1 and 20000")
        if keep:  # fit inside w x h, up or down
            scale = min(w / img.width, h / img.height)
            w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
        _check_pixels(w, h, "the resized image")
        out = img.resize((w, h))
        info.update(width=width, height=height, maintain_aspect_ratio=keep)
    elif op == "thumbnail":
        out = img.copy()
        max_w, max_h = p.int("max_width", 200), p.int("max_height", 200)
        out.thumbnail((max_w, max_h))
        info.update(max_width=max_w, max_height=max_h)
    elif op == "crop":
        x, y = p.int("x", 0), p.int("y", 0)
        w, h = p.int("width", required=True), p.int("height", required=True)
        if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > img.width or y + h > img.height:
            raise ToolValidationError("Crop box is outside the image")
        out = img.crop((x, y, x + w, y + h))
        info.update(x=x, y=y, width=w, height=h)
    elif op == "rotate":
        degrees = float(p.number("degrees", required=True))
        turn = math.radians(degrees)
        cos, sin = abs(math.cos(turn)), abs(math.sin(turn))
        _check_pixels(math.ceil(img.width * cos + img.height * sin),
                      math.ceil(img.width * sin + img.height * cos), "the rotated image")
        out = img.rotate(-degrees, expand=True)
        info.update(degrees=degrees)
    else:
        out = img
    fmt = _save(out, dst, p.str("target_format"))
    if op == "convert":
        info["target_format"] = fmt
    info.update(format=fmt, dimensions={"width": out.width, "height": out.height},
                success=True)
    return ok(op, info)


IMAGE_PROCESSOR = ToolSpec(
    name="image_processor", category="media",
    description="Detect image formats and read metadata; resize, convert, crop, rotate and "
                "thumbnail images (Pillow)",
    params=[
        Param("operation", "string", "detect | metadata | resize | convert | crop | rotate | "
              "thumbnail", default="metadata"),
        Param("file_path", "string", "Image file"),
        Param("source_path", "string", "Input image for transforms"),
        Param("target_path", "string", "Output image for transforms"),
        Param("target_format", "string", "png | jpeg | gif | webp | bmp | tiff"),
        Param("width", "integer", "resize/crop width"),
        Param("height", "integer", "resize/crop height"),
        Param("maintain_aspect_ratio", "boolean", "resize: keep aspect", default=True),
        Param("x", "integer", "crop left", default=0), Param("y", "integer", "crop top",
                                                             default=0),
        Param("degrees", "number", "rotate: clockwise degrees"),
        Param("max_width", "integer", "thumbnail", default=200),
        Param("max_height", "integer", "thumbnail", default=200),
    ],
    execute=_image,
)


# -- video ----------------------------------------------------------------------------

def _video_format(path: Path) -> str:
    h = _head(path, 16)
    if h[4:8] == b"ftyp":
        return "Mov" if h[8:10] == b"qt" else "Mp4"
    if h[:4] == b"RIFF" and h[8:12] == b"AVI ":
        return "Avi"
    if h[:4] == b"\x1a\x45\xdf\xa3":
        return "Webm" if b"webm" in _head(path, 64) else "Mkv"
    return {".mp4": "Mp4", ".mov": "Mov", ".avi": "Avi", ".mkv": "Mkv",
            ".webm": "Webm"}.get(path.suffix.lower(), "Unknown")


def _mp4_boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    import struct

    out = []
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        header = 8
        if size == 1 and i + 16 <= end:
            size = struct.unpack(">Q", data[i + 8:i + 16])[0]
            header = 16
        elif size == 0:
            size = end - i
        if size < header:
            break
        out.append((kind, i + header, min(end, i + size)))
        i += size
    return out


def _mp4_meta(path: Path) -> dict[str, Any]:
    import struct

    data = path.read_bytes() if path.stat().st_size <= 64 * 1024 * 1024 else _head(path, 1 << 26)
    meta: dict[str, Any] = {}
    for kind, s, e in _mp4_boxes(data, 0, len(data)):
        if kind != b"moov":
            continue
        for k2, s2, e2 in _mp4_boxes(data, s, e):
            if k2 == b"mvhd":
                version = data[s2]
                if version == 1:
                    scale, duration = struct.unpack(">IQ", data[s2 + 20:s2 + 32])
                else:
                    scale, duration = struct.unpack(">II", data[s2 + 12:s2 + 20])
                if scale:
                    meta["duration_seconds"] = duration / scale
            if k2 == b"trak":
                for k3, s3, e3 in _mp4_boxes(data, s2, e2):
                    if k3 == b"tkhd" and e3 - s3 >= 84:
                        w, h = struct.unpack(">II", data[e3 - 8:e3])
                        if w and h and "resolution" not in meta:
                            meta["resolution"] = {"width": w >> 16, "height": h >> 16}
    return meta


def _avi_meta(path: Path) -> dict[str, Any]:
    import struct

    h = _head(path, 128)
    i = h.find(b"avih")
    if i < 0 or len(h) < i + 48:
        return {}
    usec, _rate, _pad, _flags, frames, _init, streams, _buf, width, height = struct.unpack(
        "<10I", h[i + 8:i + 48])
    fps = 1_000_000 / usec if usec else None
    return {"fps": fps, "duration_seconds": frames / fps if fps else None,
            "resolution": {"width": width, "height": height}, "stream_count": streams}


def _video_metadata(path: Path, fmt: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"format": fmt, "duration_seconds": None, "resolution": None,
                            "fps": None, "video_bitrate": None, "audio_bitrate": None,
                            "audio_channels": None, "file_size": path.stat().st_size,
                            "video_codec": None, "audio_codec": None}
    if fmt in ("Mp4", "Mov"):
        meta.update(_mp4_meta(path))
    elif fmt == "Avi":
        meta.update(_avi_meta(path))
    return meta


def _video(ctx: ToolContext, p: Params) -> ToolOutput:
    op = p.str("operation", "metadata")
    if op in ("detect", "metadata"):
        return _detect_or_describe(ctx, p, op, VIDEO_LIMIT, _video_format, _video_metadata)
    if op in ("thumbnail", "extract_frame"):
        from .system import child_environment, find_executable, process_execution_allowed

        process_execution_allowed(ctx, f"video_processor {op}")
        src = _existing(ctx, p, "file_path", VIDEO_LIMIT)
        dst = ctx.guard.check(p.req_str("target_path"), "target_path")
        ffmpeg = find_executable(ctx, "ffmpeg")
        if ffmpeg is None:
            raise ToolError(f"Operation '{op}' needs ffmpeg on PATH (not found)")
        at = float(p.number("timestamp_seconds", 0))
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            # only local files: a playlist disguised as a video cannot pull in others
            proc = subprocess.run([ffmpeg, "-y", "-loglevel", "error", "-protocol_whitelist",
                                   "file", "-ss", str(at), "-i", str(src), "-frames:v", "1",
                                   str(dst)], capture_output=True, env=child_environment(),
                                  timeout=ctx.timeout(60), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ToolError("ffmpeg timed out") from None
        if proc.returncode != 0:
            raise ToolError(f"ffmpeg failed: {proc.stderr.decode('utf-8', 'replace')[:500]}")
        return ok(op, {"video_path": p.str("file_path"), "target_path": p.str("target_path"),
                       "timestamp_seconds": at, "success": True})
    raise ToolValidationError(f"Operation '{op}' is not supported (detect, metadata, "
                              "thumbnail, extract_frame)")


VIDEO_PROCESSOR = ToolSpec(
    name="video_processor", category="media",
    description="Detect video containers and read duration, resolution and frame rate from "
                "their headers; extract frames with ffmpeg when installed",
    params=[
        Param("operation", "string", "detect | metadata | thumbnail | extract_frame",
              default="metadata"),
        Param("file_path", "string", "Video file"),
        Param("target_path", "string", "Output image for thumbnail/extract_frame"),
        Param("timestamp_seconds", "number", "Frame time", default=0),
    ],
    execute=_video,
)

TOOLS: list[ToolSpec] = [AUDIO_PROCESSOR, IMAGE_PROCESSOR, VIDEO_PROCESSOR]
