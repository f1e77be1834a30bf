"""Data tools: csv_analyzer, json_processor, graph-builder, pdf-processor."""

from __future__ import annotations

import json

import pytest

from llmspell.errors import ToolError
from llmspell.tools.service import ToolService

CSV = "name,age,score\nann,31,9.5\nbob,25,7\ncid,,8\n"


@pytest.fixture(scope="module")
def svc() -> ToolService:
    return ToolService()


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF with one Helvetica text line per page."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>")
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode()}\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
            "%%EOF\n").encode()
    return bytes(out)


def test_csv_analyze(svc):
    r = svc.invoke("csv_analyzer", {"input": CSV})
    cols = {c["name"]: c for c in r["data"]["columns"]}
    assert r["data"]["row_count"] == 3 and r["data"]["delimiter"] == ","
    assert cols["age"]["data_type"] == "Integer" and cols["age"]["null_count"] == 1
    assert cols["age"]["mean"] == 28 and cols["score"]["data_type"] == "Float"
    assert cols["name"]["data_type"] == "String"
    assert r["metadata"]["response"]["success"] is True
    assert r["metadata"]["response"]["message"] == "CSV analyze completed"


def test_csv_filter_transform_sample_convert(svc):
    f = svc.invoke("csv_analyzer", {"operation": "filter", "input": CSV,
                                    "options": {"filter": "age > 26"}})
    assert f["text"] == "name,age,score\nann,31,9.5\n"
    t = svc.invoke("csv_analyzer", {"operation": "transform", "input": CSV,
                                    "options": {"rename_columns": {"name": "who"},
                                                "add_columns": {"team": "x"}}})
    assert t["text"].splitlines()[0] == "who,age,score,team"
    s = svc.invoke("csv_analyzer", {"operation": "sample", "input": CSV,
                                    "options": {"size": 1}})
    assert s["text"].count("\n") == 2
    j = svc.invoke("csv_analyzer", {"operation": "convert", "input": "a;b\n1;x\n",
                                    "options": {"format": "json"}})
    assert j["data"] == [{"a": 1, "b": "x"}]
    with pytest.raises(ToolError, match="Unknown column"):
        svc.invoke("csv_analyzer", {"operation": "filter", "input": CSV,
                                    "options": {"filter": "nope == 1"}})


def test_csv_validate(svc):
    r = svc.invoke("csv_analyzer", {"operation": "validate", "input": CSV, "options": {
        "rules": {"age": {"required": True, "type": "integer", "min": 30}}}})
    assert r["data"]["valid"] is False and r["data"]["error_count"] == 2
    people = "name,email,age\nann,ann@x.io,31\nbob,bob-at-x,130\n"
    u = svc.invoke("csv_analyzer", {"operation": "validate", "input": people, "options": {
        "rules": {"email": "email", "age": "range:0-120"}}})
    assert u["data"]["errors"] == [
        {"row": 2, "column": "email", "value": "bob-at-x", "error": "Invalid email format"},
        {"row": 2, "column": "age", "value": "130", "error": "Value 130 is outside range 0-120"}]


def test_csv_transform_expressions(svc):
    t = svc.invoke("csv_analyzer", {"operation": "transform",
                                    "input": "item,price,qty\na,2.5,4\nb,1,3\n",
                                    "options": {"add_columns": {"total": "price * qty",
                                                                "source": "shop"}}})
    assert t["text"] == "item,price,qty,total,source\na,2.5,4,10.00,shop\nb,1,3,3.00,shop\n"


def test_json_processor(svc):
    q = svc.invoke("json_processor", {"input": {"users": [{"n": "a", "age": 3},
                                                          {"n": "b", "age": 9}]},
                                      "query": "[.users[] | select(.age > 5) | .n]"})
    assert q["data"] == ["b"] and q["metadata"]["response"]["success"] is True
    many = svc.invoke("json_processor", {"input": '[1,2,3]', "query": ".[]"})
    assert many["data"] == [1, 2, 3]
    v = svc.invoke("json_processor", {"operation": "validate", "input": {"a": "x"},
                                      "schema": {"type": "object", "properties": {
                                          "a": {"type": "integer"}}}})
    assert v["data"]["is_valid"] is False and v["data"]["errors"][0]["path"] == "/a"
    s = svc.invoke("json_processor", {"operation": "stream", "input": '{"a":1}\n{"a":2}\n',
                                      "query": ".a"})
    assert s["data"] == [1, 2]
    with pytest.raises(ToolError, match="jq error"):
        svc.invoke("json_processor", {"input": {}, "query": ".[[["})
    with pytest.raises(ToolError, match="more than 100000 outputs"):
        svc.invoke("json_processor", {"input": 1, "query": "repeat(1)"})
    with pytest.raises(ToolError, match="Unknown JSON operation"):
        svc.invoke("json_processor", {"operation": "zip", "input": {}})


def test_graph_builder(svc):
    g = svc.invoke("graph-builder", {"operation": "create_graph",
                                     "graph_type": "undirected"})["result"]["result"]
    for node in ("a", "b", "c"):
        g = svc.invoke("graph-builder", {"operation": "add_node", "graph": json.dumps(g),
                                         "node_id": node})["result"]["result"]
    g = svc.invoke("graph-builder", {"operation": "add_edge", "graph": json.dumps(g),
                                     "from": "a", "to": "b", "weight": 2})["result"]["result"]
    a = svc.invoke("graph-builder", {"operation": "analyze", "input": json.dumps(g)})
    assert a["operation"] == "graph_builder_execute"
    stats = a["result"]["result"]
    assert stats["node_count"] == 3 and stats["edge_count"] == 1
    assert stats["density"] == pytest.approx(1 / 3)
    assert stats["properties"]["connected_components"] == 2
    with pytest.raises(ToolError, match="does not exist"):
        svc.invoke("graph-builder", {"operation": "add_edge", "graph": json.dumps(g),
                                     "from": "a", "to": "zz"})


def test_pdf_processor(svc, tmp_path):
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(make_pdf(["Hello first page", "Second page here"]))
    t = svc.invoke("pdf-processor", {"input": str(pdf)})
    payload = t["result"]["result"]
    assert "Hello first page" in payload["text"] and "Second page here" in payload["text"]
    assert t["result"]["metadata"]["tool"] == "pdf-processor"
    pages = svc.invoke("pdf-processor", {"operation": "extract_pages", "input": str(pdf),
                                         "start_page": 2})["result"]["result"]
    assert [p["page"] for p in pages["pages"]] == [2]
    assert "Hello" not in pages["text"]
    meta = svc.invoke("pdf-processor", {"operation": "extract_metadata",
                                        "input": str(pdf)})["result"]["result"]
    assert meta["page_count"] == 2 and meta["file_name"] == "doc.pdf"
    (tmp_path / "fake.pdf").write_text("not a pdf")
    with pytest.raises(ToolError, match="Not a PDF"):
        svc.invoke("pdf-processor", {"input": str(tmp_path / "fake.pdf")})
    with pytest.raises(ToolError, match="Security violation"):
        svc.invoke("pdf-processor", {"input": "/etc/passwd"})
