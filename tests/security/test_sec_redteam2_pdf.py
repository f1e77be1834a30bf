"""Red team 2: PDF decompression bombs.

A 13 KB PDF whose 40 pages share one deflated content stream of 2 MB of text: pdf-processor
extracted every page and joined all the text (80 MB, ~30 s) before cutting it to 1 MiB.
It now extracts page by page and stops once the cap is reached; page count and time are
capped too.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from lua_text import lua_fmt
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, StreamObject
from tools_helpers import run_cli


def _bomb(path: Path, pages: int, chars_per_page: int) -> None:
    writer = PdfWriter()
    font = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica")}))
    line = b"(" + b"x" * 1000 + b") Tj T* "
    stream = StreamObject()
    stream._data = zlib.compress(b"BT /F1 12 Tf 14 TL " + line * (chars_per_page // 1000)
                                 + b"ET", 9)
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    shared = writer._add_object(stream)
    for _ in range(pages):
        page = writer.add_blank_page(200, 200)
        page[NameObject("/Contents")] = shared
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject(
            {NameObject("/F1"): font})})
    with path.open("wb") as f:
        writer.write(f)


def test_text_extraction_stops_at_the_cap(tmp_path: Path) -> None:
    pdf = tmp_path / "bomb.pdf"
    _bomb(pdf, 40, 2_000_000)
    script = lua_fmt("""
        local r = Tool.invoke("pdf-processor", {operation = "extract_text", input = "${pdf}"})
        local x = r.result.result
        print(x.length, x.page_count, x.pages_read, x.truncated)
    """, pdf=pdf)
    done = run_cli(script, tmp_path, "--timeout", "12")
    assert done.code == 0, done.stdout + done.stderr
    assert done.stdout.split()[:4] == ["1048576", "40", "1", "true"], done.stdout


def test_extract_pages_reads_only_the_pages_asked_for(tmp_path: Path) -> None:
    pdf = tmp_path / "bomb.pdf"
    _bomb(pdf, 40, 600_000)
    script = lua_fmt("""
        local r = Tool.invoke("pdf-processor", {operation = "extract_pages", input = "${pdf}",
                                                 start_page = 3, end_page = 3})
        local x = r.result.result
        print(#x.pages, x.pages[1].page, x.page_count)
    """, pdf=pdf)
    done = run_cli(script, tmp_path, "--timeout", "12")
    assert done.code == 0, done.stdout + done.stderr
    assert done.stdout.split()[:3] == ["1", "3", "40"], done.stdout
