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


_BIB_ENTRY = re.compile(r"@(\w+)\s*\{\s*([^,\s]+)\s*,", re.S)


def _bib_value(text: str, i: int) -> tuple[str, int]:
    if text[i] == "{":
        depth, j = 0, i
        while j < len(text):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    return text[i + 1:j], j + 1
            j += 1
        raise ToolValidationError("BibTeX: unbalanced braces")
    if text[i] == '"':
        j = text.find('"', i + 1)
        if j < 0:
            raise ToolValidationError("BibTeX: unterminated string")
        return text[i + 1:j], j + 1
    m = re.match(r"[^,}\s]+", text[i:])
    if not m:
        raise ToolValidationError("BibTeX: expected a field value")
    return m.group(0), i + m.end()


def parse_bibtex(text: str) -> list[Entry]:
    entries = []
    for m in _BIB_ENTRY.finditer(text):
        kind, key = m.group(1).lower(), m.group(2)
        if kind in ("comment", "preamble", "string"):
            continue
        fields: dict[str, Any] = {"type": kind}
        i = m.end()
        while i < len(text):
            fm = re.compile(r"\s*(\w[\w-]*)\s*=\s*").match(text, i)
            if not fm:
                break
            value, i = _bib_value(text, fm.end())
            fields[fm.group(1)] = re.sub(r"[{}]", "", " ".join(value.split()))
            cm = re.compile(r"\s*,?").match(text, i)
            i = cm.end() if cm else i
        entries.append(_normalise(key, fields))
    if not entries:
        raise ToolValidationError("BibTeX: no entries found (expected '@type{key, ...}')")
    return entries


def parse_bibliography(text: str, fmt: str) -> list[Entry]:
    if not text.strip():
        raise ToolValidationError("Bibliography is empty")
    if fmt == "bibtex":
        return parse_bibtex(text)
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
