"""Bibliography parsing (YAML in hayagriva's shape, BibTeX) and citation formatting."""

from __future__ import annotations

import re
from typing import Any

from .errors import ToolValidationError

Entry = dict[str, Any]


def _authors(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(a).strip() for a in value if str(a).strip()]
    return [a.strip() for a in re.split(r"\s+and\s+|;", str(value)) if a.strip()]


def _year(value: Any) -> str:
    m = re.search(r"\d{4}", str(value or ""))
    return m.group(0) if m else "n.d."


def _normalise(key: str, fields: dict[str, Any]) -> Entry:
    f = {str(k).lower(): v for k, v in fields.items()}
    parent = f.get("parent") if isinstance(f.get("parent"), dict) else {}
    return {
        "key": key,
        "type": str(f.get("type") or f.get("entry_type") or "article").lower(),
        "title": str(f.get("title") or "").strip(),
        "author": _authors(f.get("author") or f.get("authors")),
        "year": _year(f.get("year") or f.get("date")),
        "journal": str(f.get("journal") or f.get("booktitle") or parent.get("title") or ""),
        "volume": str(f.get("volume") or parent.get("volume") or ""),
        "number": str(f.get("number") or f.get("issue") or parent.get("issue") or ""),
        "pages": str(f.get("pages") or f.get("page-range") or "").replace("--", "–"),
        "publisher": str(f.get("publisher") or ""),
        "doi": str(f.get("doi") or ""),
        "url": str(f.get("url") or ""),
    }


# -- BibTeX ---------------------------------------------------------------------------
# bibtexparser (v2) splits the file into entries, fields and @string definitions; its
# parse stack resolves only a field that is exactly one @string name, so ``#``
# concatenation (``"Journal of " # jnl``) is resolved here, then LaTeX is decoded
# (``{\"u}`` -> ü) by bibtexparser's LatexDecodingMiddleware (pylatexenc). Both can take
# long or much memory on hostile input (5 MB of ``\"u`` took minutes and 1.5 GB), so the
# parsing runs in the tools' sandbox process (``isolated.py``) with a time and memory cap.

BIBTEX_SECONDS = 30.0
MAX_VALUE_CHARS = 1 << 20  # a field or @string after expansion (``a # a`` doubles)
MAX_TOTAL_CHARS = 16 << 20  # all values together
MONTHS = {m[:3]: m for m in ("january", "february", "march", "april", "may", "june", "july",
                             "august", "september", "october", "november", "december")}
_NEEDS_LATEX = re.compile(r"[\\$~`'-]")


class BibTeXError(ValueError):
    """The BibTeX text cannot be read (the message says why)."""


class _Expander:
    """Resolves ``#`` concatenations and @string names in raw BibTeX values."""

    def __init__(self) -> None:
        self.strings: dict[str, str] = {}
        self.total = 0

    def define(self, name: str, raw: str) -> None:
        self.strings[name.lower()] = self.value(raw, f"@string {name}")

    def value(self, raw: str, where: str) -> str:
        parts = []
        size = 0
        for piece in _pieces(raw):
            part = self.resolve(piece)
            size += len(part)
            if size > MAX_VALUE_CHARS:
                raise BibTeXError(f"BibTeX: {where} expands to more than {MAX_VALUE_CHARS} "
                                  "characters")
            parts.append(part)
        self.total += size
        if self.total > MAX_TOTAL_CHARS:
            raise BibTeXError(f"BibTeX: the values expand to more than {MAX_TOTAL_CHARS} "
                              "characters")
        return "".join(parts)

    def resolve(self, piece: str) -> str:
        if piece[:1] in ("{", '"'):
            return piece[1:-1]
        name = piece.lower()
        if name in self.strings:
            return self.strings[name]
        return MONTHS[name].capitalize() if name in MONTHS else piece


def _pieces(raw: str) -> list[str]:
    """The ``#``-separated parts of a raw value: ``{...}``, ``"..."`` (with their
    delimiters) or names/numbers. A value that does not split cleanly is one part."""
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        while i < n and raw[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        if raw[i] in "{\"":
            close = "}" if raw[i] == "{" else '"'
            depth, i = (1, i + 1) if close == "}" else (0, i + 1)
            while i < n and not (raw[i] == close and depth <= (1 if close == "}" else 0)):
                depth += {"{": 1, "}": -1}.get(raw[i], 0)
                i += 1
            if i >= n:
                return ["{" + raw + "}"]
            i += 1
        else:
            while i < n and not raw[i].isspace() and raw[i] != "#":
                i += 1
        out.append(raw[start:i])
        while i < n and raw[i].isspace():
            i += 1
        if i < n:
            if raw[i] != "#":
                return ["{" + raw + "}"]
            i += 1
    return out


def read_bibtex(text: str) -> list[dict[str, Any]]:
    """Each entry of a BibTeX text as ``{"type", "key", "fields"}`` with plain-text field
    values (strings expanded, LaTeX decoded). Runs in the sandbox process."""
    import logging

    logging.getLogger("bibtexparser").setLevel(logging.CRITICAL)  # it logs bad blocks
    import bibtexparser
    from bibtexparser.middlewares import LatexDecodingMiddleware
    from bibtexparser.model import Entry as BibEntry
    from bibtexparser.model import Field

    library = bibtexparser.parse_string(text, parse_stack=[])
    expand = _Expander()
    for string in library.strings:
        expand.define(string.key, str(string.value))
    decoder = LatexDecodingMiddleware()
    out = []
    for entry in library.entries:
        plain: dict[str, str] = {}
        latex: list[Any] = []
        for f in entry.fields:
            value = " ".join(expand.value(str(f.value), f"{entry.key}.{f.key}").split())
            if _NEEDS_LATEX.search(value):
                latex.append(Field(f.key, value))
            else:
                plain[f.key] = value.replace("{", "").replace("}", "")
        if latex:
            decoded = decoder.transform_entry(BibEntry(entry.entry_type, entry.key, latex),
                                              library)
            for f in getattr(decoded, "fields", latex):
                plain[f.key] = " ".join(str(f.value).split())
        out.append({"type": entry.entry_type.lower(), "key": entry.key,
                    "fields": {f.key: plain[f.key] for f in entry.fields}})
    if not out:
        raise BibTeXError("BibTeX: no entries found (expected '@type{key, ...}')")
    return out


def parse_bibtex(text: str, seconds: float = BIBTEX_SECONDS,
                 stopped: Any = lambda: False) -> list[Entry]:
    """The entries of a BibTeX text, parsed in the sandbox process within ``seconds``."""
    import json

    from . import isolated

    body = isolated.run("bibtex", {}, text.encode("utf-8", "surrogatepass"),
                        seconds=seconds, output_limit=MAX_TOTAL_CHARS * 2 + len(text) * 2,
                        what="BibTeX parsing", stopped=stopped)
    return [_normalise(e["key"], {**e["fields"], "type": e["type"]})
            for e in json.loads(body)]


def parse_bibliography(text: str, fmt: str, seconds: float = BIBTEX_SECONDS,
                       stopped: Any = lambda: False) -> list[Entry]:
    if not text.strip():
        raise ToolValidationError("Bibliography is empty")
    if fmt == "bibtex":
        return parse_bibtex(text, seconds, stopped)
    if fmt != "yaml":
        raise ToolValidationError(f"Unsupported format: {fmt} (use yaml or bibtex)")
    import yaml

    class NoAliases(yaml.SafeLoader):
        """Aliases (``*a``) share one node many times: nine levels of them make a
        "billion laughs" value that every later step would expand. A bibliography has no
        use for them."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.MarkedYAMLError("while reading the bibliography", None,
                                           "YAML aliases are not allowed", event.start_mark)
            return super().compose_node(parent, index)

    try:
        data = yaml.load(text, Loader=NoAliases)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ToolValidationError(f"Invalid YAML bibliography: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ToolValidationError("YAML bibliography must map citation keys to entries")
    return [_normalise(str(k), v) for k, v in data.items()]


def _split_name(name: str) -> tuple[str, list[str]]:
    if "," in name:
        last, first = name.split(",", 1)
        return last.strip(), first.split()
    parts = name.split()
    return (parts[-1], parts[:-1]) if parts else ("", [])


def _initials(first: list[str], dots: bool = True) -> str:
    return " ".join(f"{p[0]}." if dots else p[0] for p in first if p)


def _apa_name(n: str) -> str:
    last, first = _split_name(n)
    return f"{last}, {_initials(first)}".rstrip(", ")


def _join(names: list[str], final: str) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + f"{',' if len(names) > 2 else ''} {final} " + names[-1]


def _source(e: Entry) -> str:
    s = e["journal"]
    if e["volume"]:
        s += f", {e['volume']}"
        if e["number"]:
            s += f"({e['number']})"
    if e["pages"]:
        s += f", {e['pages']}"
    return s


def reference(e: Entry, style: str, n: int) -> str:
    authors = e["author"] or ["Anonymous"]
    title, year, src = e["title"], e["year"], _source(e)
    tail = f" https://doi.org/{e['doi']}" if e["doi"] else ""
    if style == "apa":
        return f"{_join([_apa_name(a) for a in authors], '&')} ({year}). {title}. {src}.{tail}"
    if style == "harvard":
        return f"{_join([_apa_name(a) for a in authors], 'and')} ({year}) {title}. {src}."
    if style == "mla":
        first_last, first_first = _split_name(authors[0])
        lead = f"{first_last}, {' '.join(first_first)}".rstrip(", ")
        lead += ", et al" if len(authors) > 2 else (f", and {authors[1]}"
                                                     if len(authors) == 2 else "")
        return f"{lead}. \"{title}.\" {src}, {year}."
    if style.startswith("chicago"):
        names = _join([_apa_name(a) for a in authors], "and")
        if style == "chicago-author-date":
            return f"{names.rstrip('.')}. {year}. \"{title}.\" {src}."
        return f"{names.rstrip('.')}. \"{title}.\" {src} ({year})."
    if style in ("ieee",):
        names = _join([f"{_initials(_split_name(a)[1])} {_split_name(a)[0]}".strip()
                       for a in authors], "and")
        return f"[{n}] {names}, \"{title},\" {src}, {year}."
    # nature, vancouver
    names = ", ".join(f"{_split_name(a)[0]} {_initials(_split_name(a)[1], dots=False)}"
                      .replace(" ", " ").strip() for a in authors[:6])
    if len(authors) > 6:
        names += ", et al"
    return f"{n}. {names}. {title}. {src} ({year})." if style == "nature" else \
        f"{n}. {names}. {title}. {e['journal']}. {year};{e['volume']}:{e['pages']}."


def in_text(e: Entry, style: str, n: int) -> str:
    lasts = [_split_name(a)[0] for a in e["author"]] or ["Anonymous"]
    if style in ("ieee", "nature", "vancouver"):
        return f"[{n}]"
    who = lasts[0] + (" et al." if len(lasts) > 2 else
                      (f" & {lasts[1]}" if len(lasts) == 2 and style == "apa" else
                       (f" and {lasts[1]}" if len(lasts) == 2 else "")))
    if style == "mla":
        return f"({who})"
    return f"({who}, {e['year']})" if style != "chicago-author-date" else \
        f"({who} {e['year']})"


def format_entries(entries: list[Entry], style: str) -> tuple[list[dict[str, str]], list[str]]:
    citations = [{"key": e["key"], "citation": in_text(e, style, i)}
                 for i, e in enumerate(entries, 1)]
    refs = [reference(e, style, i) for i, e in enumerate(entries, 1)]
    if style not in ("ieee", "nature", "vancouver"):
        refs.sort()
    return citations, refs
