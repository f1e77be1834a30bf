"""Data tools: csv_analyzer, json_processor, graph-builder, pdf-processor."""

from __future__ import annotations

import io
import json
import math
import re
import time
from typing import TYPE_CHECKING, Any

from .errors import SecurityViolation, ToolError, ToolValidationError
from .registry import ToolOutput, ToolSpec, envelope, to_json, wrapped_ok
from .schema import Param, Params

if TYPE_CHECKING:
    from .context import ToolContext


def _raw_result(op: str, result: Any, message: str, **extra: Any) -> ToolOutput:
    """Upstream quirk for csv/json tools: text = the raw result, envelope in metadata."""
    env = envelope(op, message=message, result=result)
    meta = {"response": env, "operation": op, **extra}
    if isinstance(result, str):
        return ToolOutput(result, meta)
    return ToolOutput(to_json(result, pretty=True), meta, result)


# -- csv_analyzer ---------------------------------------------------------------------

CSV_LIMIT = 500 * 1024 * 1024
ANALYSIS_ROWS = 10_000
# Python holds each cell as a list slot and a record entry (~100 bytes, 100x a one-byte
# cell), and short rows are padded to the header's width: cells are counted before the
# records are built. JSON records repeat every column name, transform adds its literal
# columns to each row: their size is estimated before they are built.
CSV_MAX_CELLS = 2_000_000
CSV_OUTPUT_LIMIT = 64 * 1024 * 1024


def _check_cells(text: str, delimiter: str) -> None:
    """Refuse before parsing when the text has room for more than ``CSV_MAX_CELLS`` cells
    (quoted delimiters and line breaks only make the count larger)."""
    if text.count(delimiter) + text.count("\n") + 1 > CSV_MAX_CELLS:
        raise ToolValidationError(f"CSV input too large (more than {CSV_MAX_CELLS} cells)")


def _check_output(rows: int, per_row: int, text: str) -> None:
    """Refuse a result of about ``rows * per_row`` bytes past ``CSV_OUTPUT_LIMIT``."""
    if rows * per_row + len(text) > CSV_OUTPUT_LIMIT:
        raise ToolValidationError(f"CSV result too large (about {rows * per_row} bytes; "
                                  f"limit {CSV_OUTPUT_LIMIT})")


def _read_csv(text: str) -> tuple[list[str], list[list[str]], str]:
    import csv

    sample = text[:8192]
    counts = {d: sample.splitlines()[0].count(d) if sample else 0 for d in ",;\t|"}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    _check_cells(text, delimiter)
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    rows = [r for r in rows if r]
    if not rows:
        raise ToolValidationError("CSV input has no header row")
    if len(rows[0]) * (len(rows) - 1) > CSV_MAX_CELLS:  # each record has the header's width
        raise ToolValidationError(f"CSV input too large (more than {CSV_MAX_CELLS} cells "
                                  "once short rows are padded to the header)")
    return rows[0], rows[1:], delimiter


def _typed(value: str) -> Any:
    v = value.strip()
    if v == "":
        return None
    if re.fullmatch(r"[+-]?\d+", v):
        return int(v)
    try:
        f = float(v)
        return f if math.isfinite(f) else v
    except ValueError:
        pass
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    return v


def _kind(values: list[Any]) -> str:
    kinds = set()
    for v in values:
        if isinstance(v, bool):
            kinds.add("Boolean")
        elif isinstance(v, int):
            kinds.add("Integer")
        elif isinstance(v, float):
            kinds.add("Float")
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}([ T].*)?", str(v)):
            kinds.add("Date")
        else:
            kinds.add("String")
    if kinds == {"Integer", "Float"}:
        return "Float"
    return kinds.pop() if len(kinds) == 1 else ("String" if not kinds else "Mixed")


def _analyze(header: list[str], rows: list[list[str]], delimiter: str, size: int
             ) -> dict[str, Any]:
    import statistics

    cols = []
    sample_rows = rows[:ANALYSIS_ROWS]
    for i, name in enumerate(header):
        raw = [r[i] if i < len(r) else "" for r in sample_rows]
        values = [_typed(v) for v in raw]
        present = [v for v in values if v is not None]
        numbers = [float(v) for v in present
                   if isinstance(v, int | float) and not isinstance(v, bool)]
        col: dict[str, Any] = {
            "name": name, "data_type": _kind(present), "null_count": len(values) - len(present),
            "unique_count": len({str(v) for v in present}),
            "min_value": None, "max_value": None, "mean": None, "median": None,
            "std_dev": None, "sample_values": [str(v) for v in present[:5]],
        }
        if numbers and len(numbers) == len(present):
            col.update(min_value=str(_num(min(numbers))), max_value=str(_num(max(numbers))),
                       mean=statistics.fmean(numbers), median=statistics.median(numbers),
                       std_dev=statistics.stdev(numbers) if len(numbers) > 1 else 0.0)
        elif present:
            texts = sorted(str(v) for v in present)
            col.update(min_value=texts[0], max_value=texts[-1])
        cols.append(col)
    return {"row_count": len(rows), "column_count": len(header), "encoding": "UTF-8",
            "delimiter": delimiter, "has_headers": True, "columns": cols,
            "file_size_bytes": size, "parse_errors": []}


def _num(x: float) -> int | float:
    return int(x) if x.is_integer() else x


def _write_csv(header: list[str], rows: list[list[Any]], delimiter: str = ",") -> str:
    import csv

    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


_FILTER = re.compile(r"^\s*(.+?)\s*(==|!=|>=|<=|>|<)\s*(.*?)\s*$")


def _compare(left: str, op: str, right: str) -> bool:
    try:
        a, b = float(left), float(right)
    except ValueError:
        a, b = left, right  # type: ignore[assignment]
    return {"==": a == b, "!=": a != b, ">": a > b, "<": a < b, ">=": a >= b,
            "<=": a <= b}[op]


def _column_value(expr: str, rec: dict[str, str]) -> str:
    """add_columns: an arithmetic expression over numeric columns, else a literal."""
    from .calc import CalcError, evaluate

    names = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", expr))
    if not names & set(rec):
        return expr
    variables = {}
    for key, value in rec.items():
        try:
            variables[key] = float(value)
        except ValueError:
            continue
    try:
        result = evaluate(expr, variables)
    except CalcError:
        return expr
    return f"{result:.2f}"


def _check_field(value: str, rule: Any) -> str | None:
    """One CSV validation rule: "email", "range:MIN-MAX", "required", "integer", "number",
    "pattern:REGEX", or an object {required, type, pattern, min, max}."""
    if isinstance(rule, str):
        if rule == "email":
            return None if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value) else \
                "Invalid email format"
        if rule.startswith("range:"):
            m = re.fullmatch(r"range:(-?[\d.]+)-(-?[\d.]+)", rule)
            if not m:
                raise ToolValidationError(f"Invalid range rule: {rule}")
            try:
                num = float(value)
            except ValueError:
                return "Value is not a valid number"
            lo, hi = float(m.group(1)), float(m.group(2))
            return None if lo <= num <= hi else \
                f"Value {_num(num)} is outside range {_num(lo)}-{_num(hi)}"
        if rule.startswith("pattern:"):
            from .patterns import compile_pattern, search

            return None if search(compile_pattern(rule[8:]), value) else \
                f"Value does not match {rule[8:]}"
        rule = {"required": True} if rule == "required" else {"type": rule}
    if not isinstance(rule, dict):
        raise ToolValidationError(f"Invalid validation rule: {rule!r}")
    typed = _typed(value)
    if typed is None:
        return "Required value missing" if rule.get("required") else None
    want = rule.get("type")
    if want in ("integer", "number", "float") and (
            isinstance(typed, bool) or not isinstance(typed, int | float) or
            (want == "integer" and not isinstance(typed, int))):
        return f"Expected {want}"
    if rule.get("pattern"):
        from .patterns import compile_pattern, search

        if not search(compile_pattern(str(rule["pattern"])), value):
            return f"Value does not match {rule['pattern']}"
    if isinstance(typed, int | float) and not isinstance(typed, bool):
        if rule.get("min") is not None and typed < rule["min"]:
            return f"Value {typed} is less than {rule['min']}"
        if rule.get("max") is not None and typed > rule["max"]:
            return f"Value {typed} is greater than {rule['max']}"
    return None


def _csv(ctx: ToolContext, p: Params) -> ToolOutput:
    import csv

    op = p.str("operation", "analyze")
    text = p.req_str("input")
    options = p.obj("options", {})
    if len(text) > CSV_LIMIT:
        raise ToolValidationError("CSV input too large (max 500 MB)")
    try:
        header, rows, delimiter = _read_csv(text)
    except csv.Error as exc:
        raise ToolError(f"CSV parse error: {exc}") from None
    records = [dict(zip(header, r + [""] * (len(header) - len(r)), strict=False))
               for r in rows]
    if op == "analyze":
        result = _analyze(header, rows, delimiter, len(text.encode()))
        return _raw_result(op, result, "CSV analyze completed", analysis_result=result)
    if op == "convert":
        fmt = options.get("format")
        if not fmt:
            raise ToolValidationError("Convert operation requires options.format")
        if fmt in ("json", "jsonl", "jsonlines"):  # each record repeats the column names
            _check_output(len(rows), sum(len(h) + 8 for h in header), text)
        if fmt == "json":
            data = [{k: _typed(v) for k, v in rec.items()} for rec in records]
            return _raw_result(op, data, "CSV convert completed")
        if fmt in ("jsonl", "jsonlines"):
            lines = "\n".join(json.dumps({k: _typed(v) for k, v in r.items()},
                                         ensure_ascii=False) for r in records)
            return _raw_result(op, lines + "\n", "CSV convert completed")
        if fmt == "tsv":
            return _raw_result(op, _write_csv(header, rows, "\t"), "CSV convert completed")
        if fmt in ("excel", "xlsx", "parquet"):
            raise ToolError(f"Conversion to {fmt} needs an optional library that llmspell "
                            "does not install (openpyxl / pyarrow); convert to csv, tsv, "
                            "json or jsonl instead")
        raise ToolValidationError(f"Unsupported format: {fmt}")
    if op == "filter":
        expr = options.get("filter")
        if not isinstance(expr, str):
            raise ToolValidationError("Filter operation requires options.filter "
                                      "(e.g. \"age > 30\")")
        m = _FILTER.match(expr)
        if not m:
            raise ToolValidationError(f"Invalid filter expression: {expr}")
        column, cmp, value = m.group(1), m.group(2), m.group(3).strip("'\"")
        if column not in header:
            raise ToolValidationError(f"Unknown column: {column}")
        kept = [r for r, rec in zip(rows, records, strict=True)
                if _compare(rec[column], cmp, value)]
        return _raw_result(op, _write_csv(header, kept, delimiter), "CSV filter completed")
    if op == "transform":
        renames = options.get("rename_columns") or {}
        adds = options.get("add_columns") or {}
        drops = set(options.get("remove_columns") or [])
        if not isinstance(renames, dict) or not isinstance(adds, dict):
            raise ToolValidationError("rename_columns and add_columns must be objects")
        keep = [h for h in header if h not in drops]
        new_header = [str(renames.get(h, h)) for h in keep] + list(adds)
        _check_output(len(rows), sum(len(str(e)) + 10 for e in adds.values()), text)
        out_rows = [[rec[h] for h in keep] + [_column_value(str(expr), rec) for expr in
                                               adds.values()] for rec in records]
        return _raw_result(op, _write_csv(new_header, out_rows, delimiter),
                           "CSV transform completed")
    if op == "sample":
        size = int(options.get("size", 10))
        return _raw_result(op, _write_csv(header, rows[:size], delimiter),
                           "CSV sample completed")
    if op == "validate":
        rules = options.get("rules")
        if not isinstance(rules, dict):
            raise ToolValidationError("Validate operation requires 'rules' in options")
        errors: list[dict[str, Any]] = []
        for n, rec in enumerate(records, start=1):
            for col, rule in rules.items():
                if col not in rec:
                    continue
                message = _check_field(rec[col], rule)
                if message:
                    errors.append({"row": n, "column": col, "value": rec[col],
                                   "error": message})
        result = {"valid": not errors, "errors": errors, "total_rows": len(records),
                  "error_count": len(errors)}
        return _raw_result(op, result, "CSV validate completed", validation_result=result)
    raise ToolValidationError(f"Unknown operation: {op}")


CSV_ANALYZER = ToolSpec(
    name="csv_analyzer", category="data",
    description="Analyze CSV text (column types and statistics), convert, filter, transform, "
                "validate and sample it",
    params=[
        Param("operation", "string", "analyze | convert | filter | transform | validate | "
              "sample", default="analyze"),
        Param("input", "string", "CSV content (text, not a path)", required=True),
        Param("options", "object", "format / filter / rename_columns / add_columns / "
              "remove_columns / rules / size"),
    ],
    execute=_csv,
)


# -- json_processor -------------------------------------------------------------------

JSON_LIMIT = 100 * 1024 * 1024


MAX_JQ_OUTPUTS = 100_000
JQ_OUTPUT_LIMIT = 16 * 1024 * 1024  # bytes of JSON the outputs of one call may total
JQ_SECONDS = 10.0  # per call, and never past the script's own deadline
# jq names that reach files or the installation: modules (import/include/modulemeta) and
# the search path. Refused wherever they appear as code; ``$ENV``/``env`` need no refusal,
# jq runs in a process with an empty environment.
JQ_REFUSED = frozenset({"import", "include", "modulemeta", "get_search_list",
                        "get_prog_origin", "get_jq_origin"})


def _jq_source(program: str) -> str:
    """The program jq will compile: comments removed, refused names rejected.

    We strip the comments ourselves (jq's comment syntax has line continuations), so what
    is checked here is exactly what jq reads. Strings are data, ``\\(...)`` inside them is
    code; ``.include`` (a field) and ``{include: 1}`` (a key) are data.
    """
    out: list[str] = []
    interp: list[int] = []  # open parentheses inside each string interpolation
    in_string = False
    i, n = 0, len(program)
    while i < n:
        c = program[i]
        if in_string:
            if c == "\\" and i + 1 < n:
                out.append(program[i:i + 2])
                if program[i + 1] == "(":
                    interp.append(0)
                    in_string = False
                i += 2
                continue
            if c == '"':
                in_string = False
            out.append(c)
            i += 1
            continue
        if c == "#":
            while i < n and program[i] != "\n":
                i += 1
            continue
        if c == '"':
            in_string = True
        elif c == "(" and interp:
            interp[-1] += 1
        elif c == ")" and interp:
            if interp[-1] == 0:
                interp.pop()
                in_string = True
            else:
                interp[-1] -= 1
        elif c.isalpha() or c == "_" or c == "$":
            j = i + 1
            while j < n and (program[j].isalnum() or program[j] in "_:"):
                j += 1
            word = program[i:j]
            _check_jq_word(word, program, i, j)
            out.append(word)
            i = j
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _check_jq_word(word: str, program: str, start: int, end: int) -> None:
    names = {part.lstrip("$") for part in word.split("::")}
    if not names & JQ_REFUSED:
        return
    is_field = start > 0 and program[start - 1] == "." and (start < 2 or
                                                           program[start - 2] != ".")
    rest = program[end:].lstrip(" \t\r\n")
    is_key = rest.startswith(":") and not rest.startswith("::")
    if is_field or is_key:
        return
    name = sorted(names & JQ_REFUSED)[0]
    raise SecurityViolation(f"json_processor: jq '{name}' is not available (jq modules and "
                            "files cannot be used from a script)")


def _jq_all(ctx: ToolContext, program: str, values: list[Any]) -> list[Any]:
    """All outputs of a jq program over ``values``, run in the sandbox process."""
    from . import isolated

    source = _jq_source(program)
    try:
        payload = "\n".join(json.dumps(v, ensure_ascii=False) for v in values)
    except (TypeError, ValueError) as exc:
        raise ToolValidationError(f"Input is not JSON: {exc}") from None
    body = isolated.run("jq", {"program": source, "max_outputs": MAX_JQ_OUTPUTS},
                        payload.encode("utf-8", "surrogatepass"),
                        seconds=ctx.timeout(JQ_SECONDS), output_limit=JQ_OUTPUT_LIMIT,
                        what="jq program", stopped=ctx.stopped,
                        startup_seconds=ctx.timeout(isolated.STARTUP_SECONDS))
    return json.loads(body)


def _json_processor(ctx: ToolContext, p: Params) -> ToolOutput:
    op = p.str("operation", "query")
    value = p.data.get("input")
    if isinstance(value, str) and len(value) > JSON_LIMIT:
        raise ToolValidationError("Input too large (max 100 MB)")
    if op in ("query", "transform", "jq"):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        outputs = _jq_all(ctx, p.str("query", "."), [value])
        result = outputs[0] if len(outputs) == 1 else outputs
        return _raw_result("query", result, "JSON query completed")
    if op == "validate":
        from . import isolated

        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        schema = p.obj("schema", required=True)
        try:
            payload = json.dumps({"schema": schema, "value": value}, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise ToolValidationError(f"Input is not JSON: {exc}") from None
        # in the sandbox process: schema patterns backtrack in Python's re without limit
        body = isolated.run("validate", {}, payload.encode("utf-8", "surrogatepass"),
                            seconds=ctx.timeout(JQ_SECONDS), output_limit=JQ_OUTPUT_LIMIT,
                            what="schema validation", stopped=ctx.stopped,
                            startup_seconds=ctx.timeout(isolated.STARTUP_SECONDS))
        errors = json.loads(body)
        result = {"is_valid": not errors, "errors": errors}
        return _raw_result("validate", result, "JSON validation completed")
    if op == "stream":
        if not isinstance(value, str):
            raise ToolValidationError("Stream operation requires JSON lines text as input")
        program = p.str("query", ".")
        items: list[Any] = []
        for n, line in enumerate(value.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ToolError(f"Invalid JSON on line {n}: {exc}") from None
        out = _jq_all(ctx, program, items) if items else []
        return _raw_result("stream", out, "JSON stream completed")
    raise ToolValidationError(f"Unknown JSON operation: {op}")


JSON_PROCESSOR = ToolSpec(
    name="json_processor", category="data",
    description="Query and transform JSON with jq, validate it against a JSON Schema, or "
                "stream JSON lines through a jq program",
    params=[
        Param("operation", "string", "query | transform | jq | validate | stream",
              default="query"),
        Param("input", "object", "JSON value (a string is parsed as JSON when possible)"),
        Param("query", "string", "jq program", default="."),
        Param("schema", "object", "JSON Schema (Draft 7) for validate"),
    ],
    execute=_json_processor,
)


# -- graph-builder --------------------------------------------------------------------

MAX_NODES, MAX_EDGES = 10_000, 50_000


def _load_graph(text: Any, param: str) -> dict[str, Any]:
    if isinstance(text, dict):
        graph = text
    else:
        if not isinstance(text, str):
            raise ToolValidationError(f"Missing required parameter '{param}'")
        if len(text) > 10 * 1024 * 1024:
            raise ToolValidationError("Graph JSON too large (max 10 MB)")
        try:
            graph = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ToolValidationError(f"Invalid graph JSON: {exc}") from None
    if not isinstance(graph, dict):
        raise ToolValidationError("Graph must be a JSON object")
    graph.setdefault("graph_type", "directed")
    nodes, edges = graph.setdefault("nodes", []), graph.setdefault("edges", [])
    if graph["graph_type"] not in ("directed", "undirected"):
        raise ToolValidationError("graph_type must be 'directed' or 'undirected'")
    if not isinstance(nodes, list) or not isinstance(edges, list):
        raise ToolValidationError("Graph nodes and edges must be arrays")
    if len(nodes) > MAX_NODES or len(edges) > MAX_EDGES:
        raise ToolValidationError(f"Graph too large (max {MAX_NODES} nodes, {MAX_EDGES} edges)")
    ids = {n.get("id") for n in nodes if isinstance(n, dict)}
    for e in edges:
        if not isinstance(e, dict) or e.get("from") not in ids or e.get("to") not in ids:
            raise ToolValidationError(f"Edge refers to an unknown node: {e}")
    return graph


def _analyze_graph(g: dict[str, Any]) -> dict[str, Any]:
    n, m = len(g["nodes"]), len(g["edges"])
    directed = g["graph_type"] == "directed"
    degree = {node["id"]: 0 for node in g["nodes"]}
    adj: dict[Any, set[Any]] = {k: set() for k in degree}
    for e in g["edges"]:
        degree[e["from"]] += 1
        degree[e["to"]] += 1
        adj[e["from"]].add(e["to"])
        adj[e["to"]].add(e["from"])
    possible = n * (n - 1) if directed else n * (n - 1) / 2
    density = m / possible if possible else 0.0
    components, seen = 0, set()
    for start in adj:
        if start in seen:
            continue
        components += 1
        stack = [start]
        while stack:
            cur = stack.pop()
            if cur not in seen:
                seen.add(cur)
                stack.extend(adj[cur] - seen)
    degrees = list(degree.values())
    return {"node_count": n, "edge_count": m, "graph_type": g["graph_type"],
            "density": density,
            "degree_statistics": {"max_degree": max(degrees, default=0),
                                  "min_degree": min(degrees, default=0),
                                  "average_degree": sum(degrees) / n if n else 0.0},
            "properties": {"is_empty": n == 0, "is_complete": n > 1 and density >= 1.0,
                           "is_connected": components <= 1,
                           "connected_components": components,
                           "has_self_loops": any(e["from"] == e["to"] for e in g["edges"])}}


def _graph(ctx: ToolContext, p: Params) -> ToolOutput:
    op = p.str("operation", "create_graph")
    tool = "graph-builder"
    if op == "create_graph":
        kind = p.str("graph_type", "directed")
        return wrapped_ok(tool, op, _load_graph({"graph_type": kind}, "graph"))
    if op == "add_node":
        g = _load_graph(p.data.get("graph"), "graph")
        node_id = p.req_str("node_id")
        if any(n.get("id") == node_id for n in g["nodes"]):
            raise ToolValidationError(f"Node '{node_id}' already exists")
        if len(g["nodes"]) >= MAX_NODES:
            raise ToolValidationError(f"Graph node limit reached ({MAX_NODES})")
        node: dict[str, Any] = {"id": node_id}
        if "label" in p:
            node["label"] = p.str("label")
        if "data" in p:
            node["data"] = p.raw("data")
        g["nodes"].append(node)
        return wrapped_ok(tool, op, g)
    if op == "add_edge":
        g = _load_graph(p.data.get("graph"), "graph")
        src, dst = p.req_str("from"), p.req_str("to")
        ids = {n.get("id") for n in g["nodes"]}
        for end in (src, dst):
            if end not in ids:
                raise ToolValidationError(f"Node '{end}' does not exist")
        edge: dict[str, Any] = {"from": src, "to": dst}
        for key in ("label", "weight", "data"):
            if key in p:
                edge[key] = p.raw(key)
        g["edges"].append(edge)
        return wrapped_ok(tool, op, g)
    if op == "analyze":
        return wrapped_ok(tool, op, _analyze_graph(_load_graph(p.data.get("input"), "input")))
    if op == "export_json":
        g = _load_graph(p.data.get("input"), "input")
        return wrapped_ok(tool, op, {"json": json.dumps(g), "format": "json",
                                  "node_count": len(g["nodes"]),
                                  "edge_count": len(g["edges"])})
    if op == "import_json":
        return wrapped_ok(tool, op, _load_graph(p.data.get("input"), "input"))
    raise ToolValidationError(f"Unknown operation: {op}")


GRAPH_BUILDER = ToolSpec(
    name="graph-builder", category="data",
    description="Build graphs (nodes, edges), analyze them (density, degrees, connectivity) "
                "and import/export JSON",
    params=[
        Param("operation", "string", "create_graph | add_node | add_edge | analyze | "
              "export_json | import_json", default="create_graph"),
        Param("graph_type", "string", "directed | undirected", default="directed"),
        Param("graph", "string", "Graph JSON for add_node/add_edge"),
        Param("input", "string", "Graph JSON for analyze/export_json/import_json"),
        Param("node_id", "string", "add_node: id"), Param("label", "string", "Label"),
        Param("data", "object", "Attached data"), Param("from", "string", "add_edge: source"),
        Param("to", "string", "add_edge: target"), Param("weight", "number", "Edge weight"),
    ],
    execute=_graph,
)


# -- pdf-processor --------------------------------------------------------------------

PDF_LIMIT = 10 * 1024 * 1024
PDF_TEXT_LIMIT = 1024 * 1024
PDF_MAX_PAGES = 2000  # pages whose text one call extracts
PDF_SECONDS = 60.0  # one call's extraction time (also bounded by the script's time left)


def _pdf_reader(ctx: ToolContext, path: str) -> Any:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    data = ctx.guard.read_bytes(path, "input", PDF_LIMIT)
    if not data.startswith(b"%PDF"):
        raise ToolError(f"Not a PDF file: {path}")
    try:
        return PdfReader(io.BytesIO(data))
    except (PdfReadError, ValueError) as exc:
        raise ToolError(f"Cannot read PDF {path}: {exc}") from None


def _page_texts(ctx: ToolContext, reader: Any, first: int = 0,
                last: int | None = None) -> tuple[list[str], bool]:
    """The text of pages ``first..last`` (0-based, inclusive), page by page: it stops once
    ``PDF_TEXT_LIMIT`` characters are in hand (a small file's deflated streams can expand
    to gigabytes of text, and many pages can share one stream), and refuses more than
    ``PDF_MAX_PAGES`` pages or ``PDF_SECONDS``. Returns (texts, truncated)."""
    pages = reader.pages
    last = len(pages) - 1 if last is None else min(last, len(pages) - 1)
    if last - first + 1 > PDF_MAX_PAGES:
        raise ToolValidationError(f"The PDF has {last - first + 1} pages to extract, more "
                                  f"than {PDF_MAX_PAGES}; use start_page/end_page")
    until = time.monotonic() + ctx.timeout(PDF_SECONDS)
    out: list[str] = []
    total = 0
    for index in range(first, last + 1):
        if total >= PDF_TEXT_LIMIT:
            return out, True
        if ctx.stopped() or time.monotonic() > until:
            raise ToolError(f"PDF text extraction stopped after {len(out)} pages "
                            f"(time limit {PDF_SECONDS:g} s or the script's own)")
        text = pages[index].extract_text() or ""
        out.append(text[:PDF_TEXT_LIMIT - total])
        total += len(out[-1])
    return out, False


def _pdf(ctx: ToolContext, p: Params) -> ToolOutput:
    import os
    from datetime import UTC, datetime

    op = p.str("operation", "extract_text")
    path = p.req_str("input")
    tool = "pdf-processor"
    if op == "extract_text":
        reader = _pdf_reader(ctx, path)
        texts, truncated = _page_texts(ctx, reader)
        text = "\n".join(texts)[:PDF_TEXT_LIMIT]
        return wrapped_ok(tool, op, {"text": text, "file_path": path, "length": len(text),
                                  "page_count": len(reader.pages), "pages_read": len(texts),
                                  "truncated": truncated})
    if op == "extract_metadata":
        reader = _pdf_reader(ctx, path)
        real = ctx.guard.check(path, "input")
        st = real.stat()
        info = reader.metadata or {}
        return wrapped_ok(tool, op, {
            "file_path": path, "file_size": st.st_size, "file_name": real.name,
            "file_extension": real.suffix.lstrip("."),
            "modified": datetime.fromtimestamp(st.st_mtime, tz=UTC).isoformat(),
            "page_count": len(reader.pages),
            "title": info.get("/Title"), "author": info.get("/Author"),
            "subject": info.get("/Subject"), "creator": info.get("/Creator"),
            "producer": info.get("/Producer"),
            "encrypted": bool(reader.is_encrypted), "pdf_path": os.fspath(real)})
    if op == "extract_pages":
        reader = _pdf_reader(ctx, path)
        count = len(reader.pages)
        start = p.int("start_page", 1)
        end = p.int("end_page", count)
        if start < 1 or start > max(1, count):
            raise ToolValidationError(f"start_page {start} is out of range (1..{count})")
        texts, truncated = _page_texts(ctx, reader, start - 1, end - 1)
        pages = [{"page": start + i, "text": t} for i, t in enumerate(texts)]
        return wrapped_ok(tool, op, {"pages": pages, "start_page": start, "file_path": path,
                                  "text": "\n".join(pg["text"] for pg in pages)
                                  [:PDF_TEXT_LIMIT], "page_count": count,
                                  "truncated": truncated})
    raise ToolValidationError(f"Unknown operation: {op}")


PDF_PROCESSOR = ToolSpec(
    name="pdf-processor", category="data", security_level="restricted",
    description="Extract text, metadata or a page range from a PDF file (sandboxed, max "
                "10 MB)",
    params=[
        Param("operation", "string", "extract_text | extract_metadata | extract_pages",
              default="extract_text"),
        Param("input", "string", "Path of the PDF file", required=True),
        Param("start_page", "integer", "extract_pages: first page (1-based)", default=1),
        Param("end_page", "integer", "extract_pages: last page (default: last)"),
    ],
    execute=_pdf,
)


TOOLS: list[ToolSpec] = [CSV_ANALYZER, JSON_PROCESSOR, PDF_PROCESSOR, GRAPH_BUILDER]
