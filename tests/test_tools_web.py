"""Network tools against a real loopback HTTP server (no internet)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llmspell.config import from_dict
from llmspell.errors import ToolError
from llmspell.tools.service import ToolService

PAGE = b"""<html><head><title>Test Page</title>
<meta name="description" content="A page for tests"><meta property="og:title" content="OG">
<script>var hidden = 1;</script></head>
<body><h1>Welcome</h1><p class="item">First item</p><p class="item">Second item</p>
<a href="/next">Next page</a><img src="/logo.png" alt="Logo"></body></html>"""

SITEMAP_INDEX = b"""<?xml version="1.0"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>{base}/sitemap-a.xml</loc></sitemap></sitemapindex>"""
SITEMAP_A = b"""<?xml version="1.0"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>https://example.com/a</loc><lastmod>2024-01-01</lastmod><priority>0.8</priority></url>
<url><loc>https://example.com/b</loc></url></urlset>"""


class Handler(BaseHTTPRequestHandler):
    hits: dict[str, int] = {}
    posts: list[dict] = []

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status, body, ctype="text/html; charset=utf-8", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        base = f"http://127.0.0.1:{self.server.server_port}"
        path = self.path.split("?")[0]
        Handler.hits[path] = Handler.hits.get(path, 0) + 1
        if path == "/page":
            self._send(200, PAGE)
        elif path == "/json":
            body = json.dumps({"ok": True, "auth": self.headers.get("Authorization"),
                               "query": self.path.partition("?")[2]}).encode()
            self._send(200, body, "application/json")
        elif path == "/bytes":
            self._send(200, b"\x00\x01\x02", "application/octet-stream")
        elif path == "/big":
            self._send(200, b"x" * 5000, "text/plain")
        elif path == "/flaky":
            if Handler.hits[path] % 2 == 1:
                self._send(503, b"busy", "text/plain")
            else:
                self._send(200, b"finally", "text/plain")
        elif path == "/slow":
            import time

            time.sleep(1.5)
            self._send(200, b"late", "text/plain")
        elif path == "/redirect":
            self._send(302, b"", headers={"Location": "/json"})
        elif path == "/evil-redirect":
            self._send(302, b"", headers={"Location": "file:///etc/passwd"})
        elif path == "/sitemap.xml":
            self._send(200, SITEMAP_INDEX.replace(b"{base}", base.encode()), "application/xml")
        elif path == "/sitemap-a.xml":
            self._send(200, SITEMAP_A, "application/xml")
        elif path == "/ddg/":
            self._send(200, json.dumps({
                "Heading": "Lua", "AbstractText": "Lua is a language.",
                "AbstractURL": "https://www.lua.org",
                "RelatedTopics": [{"Text": "LuaJIT - a JIT compiler", "FirstURL":
                                   "https://luajit.org"},
                                  {"Topics": [{"Text": "Nested - x", "FirstURL": "https://n"}]}]
            }).encode(), "application/json")
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        data = json.loads(self.rfile.read(length) or b"null")
        Handler.posts.append({"path": self.path, "data": data,
                              "headers": dict(self.headers)})
        if self.path == "/graphql":
            if "__schema" in data["query"]:
                body = {"data": {"__schema": {"queryType": {"name": "Query"}}}}
            elif "broken" in data["query"]:
                body = {"errors": [{"message": "Cannot query field broken"}]}
            else:
                body = {"data": {"hello": (data.get("variables") or {}).get("name", "world")}}
            self._send(200, json.dumps(body).encode(), "application/json")
        elif self.path == "/hook-fail":
            self._send(500, b"down", "text/plain")
        else:
            self._send(201, json.dumps({"received": data}).encode(), "application/json")

    do_PUT = do_POST


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # clients that hang up early are fine
        pass


@pytest.fixture(scope="module")
def server():
    srv = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    srv.server_close()


def make(**network) -> ToolService:
    network.setdefault("allow_private_addresses", True)
    return ToolService(from_dict({"tools": {"network": network}}, environ={}))


@pytest.fixture(scope="module")
def svc(server) -> ToolService:
    return ToolService(from_dict({"tools": {
        "network": {"allow_private_addresses": True},
        "web_search": {"base_urls": {"duckduckgo": server + "/ddg"}}}}, environ={}))


def test_http_request_json_auth_and_bytes(svc, server):
    r = svc.invoke("http_request", {"input": server + "/json",
                                    "auth": {"type": "bearer", "token": "t0k"}})
    assert r["success"] is True and r["result"]["status_code"] == 200
    assert r["result"]["body"]["auth"] == "Bearer t0k"
    assert r["message"] == f"HTTP GET request to {server}/json completed with status 200"
    b = svc.invoke("http_request", {"input": server + "/bytes"})
    assert b["result"]["body"] == [0, 1, 2]
    missing = svc.invoke("http_request", {"input": server + "/nope"})
    assert missing["success"] is True and missing["result"]["status_code"] == 404
    post = svc.invoke("http_request", {"input": server + "/echo", "method": "POST",
                                       "body": {"a": 1}})
    assert post["result"]["body"] == {"received": {"a": 1}}


def test_http_request_retries_and_redirects(svc, server):
    r = svc.invoke("http_request", {"input": server + "/flaky",
                                    "retry": {"max_attempts": 3, "initial_delay_ms": 1}})
    assert r["result"]["status_code"] == 200 and r["result"]["body"] == "finally"
    red = svc.invoke("http_request", {"input": server + "/redirect"})
    assert red["result"]["body"]["ok"] is True


def test_graphql(svc, server):
    r = svc.invoke("graphql_query", {"endpoint": server + "/graphql",
                                     "input": "query($name: String) { hello(name: $name) }",
                                     "variables": {"name": "lua"}})
    assert r["result"]["result"]["data"] == {"hello": "lua"}
    intro = svc.invoke("graphql_query", {"operation": "introspection",
                                         "endpoint": server + "/graphql"})
    assert intro["result"]["result"]["schema"]["queryType"]["name"] == "Query"
    again = svc.invoke("graphql_query", {"operation": "introspection",
                                         "endpoint": server + "/graphql"})
    assert again["result"]["result"]["cached"] is True
    with pytest.raises(ToolError, match="GraphQL errors: Cannot query field broken"):
        svc.invoke("graphql_query", {"endpoint": server + "/graphql", "input": "{ broken }"})
    with pytest.raises(ToolError, match="depth"):
        svc.invoke("graphql_query", {"endpoint": server + "/graphql",
                                     "input": "{" * 12 + "}" * 12})


def test_web_scraper(svc, server):
    r = svc.invoke("web-scraper", {"input": server + "/page", "extract_links": True,
                                   "extract_meta": True, "extract_images": True})
    c = r["result"]["content"]
    assert c["title"] == "Test Page" and "Welcome" in c["text"] and "hidden" not in c["text"]
    assert c["links"] == ["/next"] and c["images"] == ["/logo.png"]
    assert c["metadata"] == {"description": "A page for tests", "meta_tags": {
        "description": "A page for tests", "og:title": "OG"}}
    sel = svc.invoke("web-scraper", {"input": server + "/page", "selector": "p.item"})
    assert sel["result"]["content"] == {"selected_content": ["First item", "Second item"]}
    named = svc.invoke("web-scraper", {"input": server + "/page",
                                       "selectors": {"heading": "h1", "items": "p.item",
                                                     "none": "table"}})
    assert named["result"]["content"] == {"heading": "Welcome",
                                          "items": ["First item", "Second item"]}
    with pytest.raises(ToolError, match="HTTP 404"):
        svc.invoke("web-scraper", {"input": server + "/missing"})
    with pytest.raises(ToolError, match="Invalid CSS selector"):
        svc.invoke("web-scraper", {"input": server + "/page", "selector": "p[["})


def test_webpage_monitor(svc, server):
    first = svc.invoke("webpage-monitor", {"input": server + "/page", "selector": "p.item"})
    assert first["result"]["has_changes"] is False
    current = first["result"]["current_content"]
    assert current == "First item\nSecond item"
    changed = svc.invoke("webpage-monitor", {"input": server + "/page", "selector": "p.item",
                                             "previous_content": "First item\nOld item"})
    assert changed["result"]["has_changes"] is True
    assert changed["result"]["changes"] == [{"type": "modification", "old_line": 2,
                                             "new_line": 2, "old_content": "Old item",
                                             "new_content": "Second item", "group": 0}]
    grown = svc.invoke("webpage-monitor", {"input": server + "/page", "selector": "p.item",
                                           "previous_content": "First item"})
    assert grown["result"]["changes"] == [{"type": "addition", "new_line": 2,
                                           "content": "Second item", "group": 0}]


def test_api_tester_and_webhook(svc, server):
    t = svc.invoke("api-tester", {"input": server + "/json"})
    assert t["result"]["response"]["is_success"] is True
    assert t["result"]["response"]["body_is_json"] is True
    assert t["result"]["timing"]["duration_ms"] >= 0
    h = svc.invoke("webhook-caller", {"input": server + "/hook", "payload": {"event": "x"}})
    assert h["success"] is True and h["result"]["status_code"] == 201
    assert Handler.posts[-1]["data"] == {"event": "x"}
    f = svc.invoke("webhook-caller", {"input": server + "/hook-fail", "max_retries": 1,
                                      "retry_delay_ms": 1})
    assert f["success"] is False and f["result"]["retry_count"] == 1
    assert "HTTP 500" in f["error"]["message"]


def test_sitemap_crawler(svc, server):
    r = svc.invoke("sitemap-crawler", {"input": server + "/sitemap.xml"})
    res = r["result"]
    assert [u["url"] for u in res["urls"]] == ["https://example.com/a", "https://example.com/b"]
    assert res["urls"][0]["priority"] == 0.8 and res["stats"]["index_files_found"] == 1
    assert [u["has_metadata"] for u in res["urls"]] == [True, False]
    assert res["stats"]["urls_with_metadata"] == 1


def test_url_analyzer(svc, server):
    r = svc.invoke("url-analyzer", {"input": "HTTPS://Example.com:443/a%20b?x=1&y=%C3%A9#top"})
    res = r["result"]
    assert res["host_details"] == {"type": "domain", "value": "example.com", "is_ip": False}
    assert res["host"] == "example.com" and res["port"] is None and res["scheme"] == "https"
    assert res["query_params"] == {"x": "1", "y": "é"} and res["path"] == "/a%20b"
    assert res["normalized"] == "https://example.com/a%20b?x=1&y=%C3%A9#top"
    assert res["fragment"] == "top"
    ip = svc.invoke("url-analyzer", {"input": "http://user:pw@10.0.0.1:8080"})["result"]
    assert ip["host_details"]["type"] == "ipv4" and ip["port"] == 8080
    assert ip["username"] == "user" and ip["has_password"] is True and ip["path"] == "/"
    m = svc.invoke("url-analyzer", {"input": server + "/page", "fetch_metadata": True})
    meta = m["result"]["metadata"]
    assert meta["status_code"] == 200 and meta["is_success"] is True
    assert meta["content_type"].startswith("text/html") and meta["title"] == "Test Page"
    blocked = ToolService().invoke("url-analyzer", {"input": server + "/page",
                                                    "fetch_metadata": True})
    assert "Security violation" in blocked["result"]["metadata_error"]
    with pytest.raises(ToolError, match="Invalid URL"):
        svc.invoke("url-analyzer", {"input": "not a url"})
    with pytest.raises(ToolError, match="Unsupported URL scheme 'ftp'"):
        svc.invoke("url-analyzer", {"input": "ftp://example.com/x"})


def test_web_search_duckduckgo(svc):
    r = svc.invoke("web_search", {"input": "lua", "max_results": 5})
    res = r["result"]
    assert res["provider"] == "duckduckgo" and res["count"] == 3
    assert res["results"][0]["url"] == "https://www.lua.org" and res["results"][0]["rank"] == 1
    assert res["results"][2]["url"] == "https://n"


# -- security: each fails if the guard is removed ---------------------------------------

@pytest.mark.parametrize("tool", ["http_request", "web-scraper", "api-tester", "webhook-caller",
                                  "webpage-monitor", "sitemap-crawler"])
def test_loopback_refused_by_default(server, tool):
    svc = ToolService()
    with pytest.raises(ToolError, match="Security violation"):
        svc.invoke(tool, {"input": server + "/page"})


@pytest.mark.parametrize("url", ["http://10.1.2.3/", "http://169.254.169.254/latest/meta-data",
                                 "http://[::1]/", "http://localhost:1/", "file:///etc/passwd",
                                 "ftp://example.com/x", "http://0.0.0.0/"])
def test_private_and_odd_targets_refused(url):
    with pytest.raises(ToolError, match="Security violation"):
        ToolService().invoke("http_request", {"input": url})


def test_redirect_hops_are_rechecked(server):
    with pytest.raises(ToolError, match="Security violation: URL scheme 'file'"):
        make().invoke("http_request", {"input": server + "/evil-redirect"})


def test_response_size_cap(server):
    with pytest.raises(ToolError, match="exceeds 100 bytes"):
        make(max_response_bytes=100).invoke("http_request", {"input": server + "/big"})


def test_request_timeout(server):
    with pytest.raises(ToolError, match="Network error: Request to .* timed out"):
        make().invoke("http_request", {"input": server + "/slow", "timeout": 0.2,
                                       "retry": {"max_attempts": 1}})


def test_connection_is_checked_again_at_connect_time(server, monkeypatch):
    """DNS rebinding: a name that passed the URL check but resolves to loopback when the
    connection is opened is still refused."""
    from llmspell import netguard

    real_check = netguard.check_host
    calls = []

    def check_passes_first_time(host, port):
        calls.append(host)
        if len(calls) == 1:
            return "93.184.216.34"  # the URL check saw a public address
        return real_check(host, port)

    monkeypatch.setattr(netguard, "check_host", check_passes_first_time)
    with pytest.raises(ToolError, match="Security violation: Access to private or local"):
        ToolService().invoke("http_request", {"input": server + "/json",
                                              "retry": {"max_attempts": 1}})
    assert len(calls) == 2
