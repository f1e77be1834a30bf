"""Network tools: http_request, graphql_query, web_search, url-analyzer, web-scraper,
api-tester, webhook-caller, webpage-monitor, sitemap-crawler.

All of them go through ``ctx.net`` (net.py): http(s) only, private/loopback/link-local
addresses refused unless ``[tools.network] allow_private_addresses = true``, timeouts,
response size caps, every redirect hop re-checked. (Upstream guards only three of these
tools; guarding all of them is a deliberate tightening.)
"""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .errors import SecurityViolation, ToolError, ToolNetworkError, ToolValidationError
from .registry import ToolOutput, ToolSpec, envelope, json_output, ok
from .schema import Param, Params

if TYPE_CHECKING:
    from ..netguard import Response
    from .context import ToolContext

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")


def _method(p: Params, default: str = "GET") -> str:
    method = p.str("method", default).upper()
    if method not in METHODS:
        raise ToolValidationError(f"Unsupported HTTP method: {method}")
    return method


def _headers(p: Params) -> dict[str, str]:
    raw = p.obj("headers", {})
    return {str(k): str(v) for k, v in raw.items()}


def _body_value(resp: Response) -> tuple[Any, bool]:
    if "json" in resp.content_type:
        try:
            return resp.json(), True
        except ValueError:
            pass
    return resp.text, False


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


# -- http_request ---------------------------------------------------------------------

def _auth_headers(auth: Any) -> dict[str, str]:
    import base64

    if not isinstance(auth, dict):
        return {}
    kind = auth.get("type")
    if kind == "basic" and "username" in auth:
        token = base64.b64encode(f"{auth['username']}:{auth.get('password', '')}".encode())
        return {"Authorization": "Basic " + token.decode()}
    if kind == "bearer" and "token" in auth:
        return {"Authorization": f"Bearer {auth['token']}"}
    if kind == "api_key" and "key" in auth:
        return {str(auth.get("header_name") or "X-API-Key"): str(auth["key"])}
    if kind == "custom" and isinstance(auth.get("headers"), dict):
        return {str(k): str(v) for k, v in auth["headers"].items()}
    return {}


def _http_request(ctx: ToolContext, p: Params) -> ToolOutput:
    url = p.req_str("input")
    method = _method(p)
    headers = {**_headers(p), **_auth_headers(p.raw("auth"))}
    body = p.data.get("body")
    retry = p.obj("retry", {})
    attempts = max(1, int(retry.get("max_attempts", 3)))
    delay = float(retry.get("initial_delay_ms", 1000)) / 1000
    max_delay = float(retry.get("max_delay_ms", 30000)) / 1000
    factor = float(retry.get("backoff_factor", 2.0))
    retry_on = set(retry.get("retry_on_status", [429, 500, 502, 503, 504]))
    timeout = float(p.number("timeout", ctx.get("tools.http_request.timeout_seconds")))
    resp = None
    for attempt in range(attempts):
        try:
            resp = ctx.net.request(method, url, headers=headers, timeout=timeout,
                                   json_body=body if method not in ("GET", "HEAD") else None)
        except ToolNetworkError:
            if attempt + 1 >= attempts:
                raise
        else:
            if resp.status_code not in retry_on or attempt + 1 >= attempts:
                break
        time.sleep(min(delay, max_delay, ctx.timeout(max_delay)))
        delay *= factor
    assert resp is not None
    ctype = resp.content_type
    if "json" in ctype:
        try:
            body_out: Any = resp.json()
        except ValueError:
            body_out = resp.text
    elif ctype.startswith("text/") or "xml" in ctype or "html" in ctype or not resp.content:
        body_out = resp.text
    else:
        body_out = list(resp.content)
    return json_output(envelope(
        "http_request",
        message=f"HTTP {method} request to {url} completed with status {resp.status_code}",
        result={"status_code": resp.status_code, "headers": resp.headers, "body": body_out,
                "timestamp": _now()},
        metadata={"method": method, "url": url, "duration_ms": int(resp.elapsed_ms)}))


HTTP_REQUEST = ToolSpec(
    name="http_request", category="api", tags=("network",),
    description="Send HTTP requests (GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS) with "
                "headers, JSON body, auth and retries",
    params=[
        Param("input", "string", "The URL", required=True),
        Param("method", "string", "HTTP method", default="GET"),
        Param("headers", "object", "Request headers"),
        Param("body", "object", "JSON request body"),
        Param("auth", "object", "{type=basic|bearer|api_key|custom, ...}"),
        Param("retry", "object", "{max_attempts, initial_delay_ms, max_delay_ms, "
              "backoff_factor, retry_on_status}"),
        Param("timeout", "number", "Seconds", default=30),
    ],
    execute=_http_request,
)


# -- graphql_query --------------------------------------------------------------------

_INTROSPECTION = ("query IntrospectionQuery { __schema { queryType { name } mutationType "
                  "{ name } types { name kind description fields { name } } } }")
_SCHEMA_CACHE: dict[str, tuple[float, Any]] = {}


def _depth(doc: str) -> int:
    depth = best = 0
    for ch in re.sub(r'"(?:\\.|[^"\\])*"', "", doc):
        if ch == "{":
            depth += 1
            best = max(best, depth)
        elif ch == "}":
            depth -= 1
    return best


def _graphql(ctx: ToolContext, p: Params) -> ToolOutput:
    op = p.str("operation", "query")
    endpoint = p.req_str("endpoint")
    if op == "subscription":
        raise ToolValidationError("GraphQL subscriptions are not supported over HTTP")
    if op not in ("query", "mutation", "introspection"):
        raise ToolValidationError(f"Unknown operation: {op}")
    if op == "introspection":
        cached = _SCHEMA_CACHE.get(endpoint)
        if cached and time.time() - cached[0] < 3600:
            return ok(op, {"operation": op, "endpoint": endpoint,
                           "result": {"schema": cached[1], "cached": True}},
                      f"GraphQL query executed successfully on {endpoint}")
        document = p.str("query") or _INTROSPECTION
    else:
        document = p.req_str("input")
    if _depth(document) > 10:
        raise ToolValidationError("GraphQL query depth exceeds the maximum of 10")
    payload: dict[str, Any] = {"query": document}
    if "variables" in p:
        payload["variables"] = p.obj("variables")
    if "operation_name" in p:
        payload["operationName"] = p.str("operation_name")
    headers = {"Content-Type": "application/json", "Accept": "application/json",
               "User-Agent": "LLMSpell-GraphQLTool/1.0", **_headers(p)}
    resp = ctx.net.request("POST", endpoint, headers=headers, json_body=payload)
    if not resp.ok:
        raise ToolNetworkError(f"GraphQL endpoint returned HTTP {resp.status_code}")
    try:
        data = resp.json()
    except ValueError:
        raise ToolError("GraphQL response is not JSON") from None
    if not isinstance(data, dict):
        raise ToolError("GraphQL response is not a JSON object")
    if data.get("errors") and data.get("data") is None:
        messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e)
                             for e in data["errors"])
        raise ToolError(f"GraphQL errors: {messages}")
    if op == "introspection":
        schema = (data.get("data") or {}).get("__schema")
        _SCHEMA_CACHE[endpoint] = (time.time(), schema)
        result: dict[str, Any] = {"schema": schema, "cached": False}
    else:
        result = {k: data[k] for k in ("data", "errors", "extensions") if k in data}
    return ok(op, {"operation": op, "endpoint": endpoint, "result": result},
              f"GraphQL query executed successfully on {endpoint}")


GRAPHQL_QUERY = ToolSpec(
    name="graphql_query", category="api", security_level="privileged", tags=("network",),
    description="Run GraphQL queries and mutations against an endpoint, or fetch its schema "
                "by introspection",
    params=[
        Param("operation", "string", "query | mutation | introspection", default="query"),
        Param("endpoint", "string", "GraphQL endpoint URL", required=True),
        Param("input", "string", "The GraphQL document"),
        Param("query", "string", "introspection: custom introspection query"),
        Param("variables", "object", "Variables"),
        Param("operation_name", "string", "operationName"),
        Param("headers", "object", "Extra headers"),
    ],
    execute=_graphql,
)


# -- web_search -----------------------------------------------------------------------

def _env(*names: str) -> str | None:
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    return None


def _search_provider(ctx: ToolContext, name: str, query: str, limit: int, safe: bool
                     ) -> list[dict[str, Any]]:
    base = ctx.get("tools.web_search.base_urls").get(name)
    net = ctx.net
    if name == "duckduckgo":
        url = (base or "https://api.duckduckgo.com") + "/"
        resp = net.request("GET", url, params={"q": query, "format": "json", "no_html": 1,
                                               "skip_disambig": 1})
        data = resp.json()
        items = []
        if data.get("AbstractText"):
            items.append({"title": data.get("Heading") or query,
                          "url": data.get("AbstractURL", ""),
                          "snippet": data["AbstractText"]})
        stack = list(data.get("Results", [])) + list(data.get("RelatedTopics", []))
        while stack:
            t = stack.pop(0)
            if "Topics" in t:
                stack.extend(t["Topics"])
            elif t.get("FirstURL"):
                text = t.get("Text", "")
                items.append({"title": text.split(" - ")[0][:120], "url": t["FirstURL"],
                              "snippet": text})
        return items[:limit]
    if name == "google":
        key = _env("WEBSEARCH_GOOGLE_API_KEY")
        cx = _env("WEBSEARCH_GOOGLE_SEARCH_ENGINE_ID")
        if not key or not cx:
            raise ToolValidationError("google needs WEBSEARCH_GOOGLE_API_KEY and "
                                      "WEBSEARCH_GOOGLE_SEARCH_ENGINE_ID")
        resp = net.request("GET", (base or "https://www.googleapis.com") + "/customsearch/v1",
                           params={"key": key, "cx": cx, "q": query, "num": min(limit, 10),
                                   "safe": "active" if safe else "off"})
        return [{"title": i.get("title", ""), "url": i.get("link", ""),
                 "snippet": i.get("snippet", "")} for i in resp.json().get("items", [])]
    if name == "brave":
        key = _env("WEBSEARCH_BRAVE_API_KEY", "BRAVE_API_KEY")
        if not key:
            raise ToolValidationError("brave needs WEBSEARCH_BRAVE_API_KEY or BRAVE_API_KEY")
        resp = net.request("GET", (base or "https://api.search.brave.com") +
                           "/res/v1/web/search", headers={"X-Subscription-Token": key,
                                                          "Accept": "application/json"},
                           params={"q": query, "count": limit,
                                   "safesearch": "strict" if safe else "off"})
        return [{"title": i.get("title", ""), "url": i.get("url", ""),
                 "snippet": i.get("description", "")}
                for i in resp.json().get("web", {}).get("results", [])]
    if name == "serpapi":
        key = _env("WEBSEARCH_SERPAPI_API_KEY", "SERPAPI_API_KEY")
        if not key:
            raise ToolValidationError("serpapi needs WEBSEARCH_SERPAPI_API_KEY or "
                                      "SERPAPI_API_KEY")
        resp = net.request("GET", (base or "https://serpapi.com") + "/search.json",
                           params={"q": query, "api_key": key, "engine": "google",
                                   "num": limit})
        return [{"title": i.get("title", ""), "url": i.get("link", ""),
                 "snippet": i.get("snippet", "")}
                for i in resp.json().get("organic_results", [])]
    if name == "serperdev":
        key = _env("WEBSEARCH_SERPERDEV_API_KEY", "SERPERDEV_API_KEY")
        if not key:
            raise ToolValidationError("serperdev needs WEBSEARCH_SERPERDEV_API_KEY or "
                                      "SERPERDEV_API_KEY")
        resp = net.request("POST", (base or "https://google.serper.dev") + "/search",
                           headers={"X-API-KEY": key}, json_body={"q": query, "num": limit})
        return [{"title": i.get("title", ""), "url": i.get("link", ""),
                 "snippet": i.get("snippet", "")} for i in resp.json().get("organic", [])]
    raise ToolValidationError(f"Unknown search provider: {name}")


def _web_search(ctx: ToolContext, p: Params) -> ToolOutput:
    query = p.req_str("input")
    limit = p.int("max_results", 10)
    safe = p.bool("safe_search", True)
    first = p.str("provider") or _env("WEBSEARCH_DEFAULT_PROVIDER") or "duckduckgo"
    chain = [first] + [x for x in ("duckduckgo",) if x != first]
    failures = []
    for name in chain:
        try:
            items = _search_provider(ctx, name, query, limit, safe)
        except SecurityViolation:
            raise
        except (ToolError, ValueError) as exc:
            failures.append(f"{name}: {exc}")
            continue
        results = [{**item, "provider": name, "rank": i}
                   for i, item in enumerate(items, 1)]
        return ok("search", {"query": query, "provider": name, "count": len(results),
                             "results": results},
                  f"Found {len(results)} results for '{query}' using {name}")
    raise ToolNetworkError("All search providers failed: " + "; ".join(failures))


WEB_SEARCH = ToolSpec(
    name="web_search", category="web", tags=("network",),
    description="Search the web (DuckDuckGo by default; Google, Brave, SerpApi, Serper.dev "
                "with API keys from the environment)",
    params=[
        Param("input", "string", "The search query", required=True),
        Param("provider", "string", "duckduckgo | google | brave | serpapi | serperdev"),
        Param("max_results", "integer", "Maximum results", default=10),
        Param("safe_search", "boolean", "Safe search", default=True),
        Param("search_type", "string", "web (news and images are provider-specific)",
              default="web"),
    ],
    execute=_web_search,
)


# -- url-analyzer ---------------------------------------------------------------------

def _url_metadata(ctx: ToolContext, url: str) -> dict[str, Any]:
    resp = ctx.net.request("GET", url, timeout=10, follow_redirects=False)
    meta: dict[str, Any] = {"status_code": resp.status_code, "status_text": resp.reason,
                            "is_success": resp.ok,
                            "is_redirect": 300 <= resp.status_code < 400}
    h = resp.headers
    if "content-type" in h:
        meta["content_type"] = h["content-type"]
    if h.get("content-length", "").isdigit():
        meta["content_length"] = int(h["content-length"])
    for key in ("server", "last-modified", "etag"):
        if key in h:
            meta[key.replace("-", "_")] = h[key]
    if meta["is_redirect"] and "location" in h:
        meta["redirect_location"] = h["location"]
    if "html" in resp.content_type:
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(resp.text, "html.parser")
        if soup.title is not None:
            meta["title"] = soup.title.get_text(strip=True)
    return meta


def _url_analyzer(ctx: ToolContext, p: Params) -> ToolOutput:
    import ipaddress
    from urllib.parse import quote

    url = p.req_str("input").strip()
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ToolValidationError(f"Invalid URL: {url}") from None
    if not parts.scheme or not parts.netloc:
        raise ToolValidationError(f"Invalid URL: {url}")
    if parts.scheme.lower() not in ("http", "https"):
        raise ToolValidationError(f"Unsupported URL scheme '{parts.scheme}'. Only http:// and "
                                  "https:// are supported.")
    host = parts.hostname or ""
    default_port = {"http": 80, "https": 443}[parts.scheme.lower()]
    explicit = port if port is not None and port != default_port else None
    try:
        ip = ipaddress.ip_address(host)
        host_info = {"type": f"ipv{ip.version}", "value": str(ip), "is_ip": True}
    except ValueError:
        host_info = {"type": "domain", "value": host, "is_ip": False}
    shown_host = f"[{host}]" if ":" in host else host
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    netloc = shown_host + (f":{explicit}" if explicit else "")
    if parts.username:
        netloc = parts.username + (f":{parts.password}" if parts.password is not None
                                   else "") + "@" + netloc
    normalized = urlunsplit((parts.scheme.lower(), netloc, path, parts.query, parts.fragment))
    result: dict[str, Any] = {
        "valid": True, "original": url, "normalized": normalized,
        "scheme": parts.scheme.lower(), "host": shown_host, "port": explicit, "path": path,
        "query": parts.query if parts.query or "?" in url else None,
        "fragment": parts.fragment if parts.fragment or "#" in url else None,
        "query_params": {}, "host_details": host_info}
    if parts.username:
        result["username"] = parts.username
        result["has_auth"] = True
        if parts.password is not None:
            result["has_password"] = True
    if parts.query:
        if p.bool("decode_params", True):
            result["query_params"] = dict(parse_qsl(parts.query, keep_blank_values=True))
        else:
            result["query_params"] = dict(pair.split("=", 1) if "=" in pair else (pair, "")
                                          for pair in parts.query.split("&") if pair)
    if p.bool("fetch_metadata", False):
        try:
            result["metadata"] = _url_metadata(ctx, url)
        except ToolError as exc:
            result["metadata_error"] = str(exc)
    return ok("analyze", result)


URL_ANALYZER = ToolSpec(
    name="url-analyzer", category="data", tags=("network",),
    description="Parse and normalise a URL (scheme, host, port, path, query parameters); "
                "optionally fetch its title and headers",
    params=[
        Param("input", "string", "The URL", required=True),
        Param("decode_params", "boolean", "Percent-decode query parameters", default=True),
        Param("fetch_metadata", "boolean", "GET the page for title/content type",
              default=False),
    ],
    execute=_url_analyzer,
)


# -- web-scraper, webpage-monitor -----------------------------------------------------

def _soup(html: str) -> Any:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    return soup


def _clean(text: str) -> str:
    return " ".join(text.split())


def _select(soup: Any, selector: str, param: str = "selector") -> list[str]:
    """Texts of the elements matching ``selector`` (an element without text gives its
    HTML), as upstream's scraper does."""
    try:
        found = soup.select(selector)
    except Exception as exc:  # soupsieve raises its own SelectorSyntaxError
        raise ToolValidationError(f"Invalid CSS selector '{selector}': {exc}") from None
    return [_clean(el.get_text(" ")) or str(el) for el in found]


def _fetch_page(ctx: ToolContext, url: str, timeout: float) -> Response:
    resp = ctx.net.request("GET", url, timeout=timeout)
    if not resp.ok:
        raise ToolNetworkError(f"HTTP {resp.status_code} {resp.reason} from {url}")
    return resp


def _web_scraper(ctx: ToolContext, p: Params) -> ToolOutput:
    url = p.req_str("input")
    resp = _fetch_page(ctx, url, float(p.number("timeout", 30)))
    soup = _soup(resp.text)
    content: dict[str, Any] = {}
    if "selector" in p:
        content["selected_content"] = _select(soup, p.req_str("selector"))
    elif "selectors" in p:
        for name, css in p.obj("selectors").items():
            found = _select(soup, str(css), "selectors")
            if len(found) == 1:
                content[name] = found[0]
            elif found:
                content[name] = found
    else:
        if soup.title is not None:
            content["title"] = soup.title.get_text()
        if soup.body is not None:
            content["text"] = _clean(soup.body.get_text(" "))
    if p.bool("extract_links", False):
        content["links"] = [a["href"] for a in soup.find_all("a", href=True)]
    if p.bool("extract_images", False):
        content["images"] = [i["src"] for i in soup.find_all("img", src=True)]
    if p.bool("extract_meta", False):
        meta: dict[str, Any] = {}
        desc = soup.find("meta", attrs={"name": "description"})
        if desc is not None and desc.get("content") is not None:
            meta["description"] = desc["content"]
        tags = {}
        for m in soup.find_all("meta"):
            for attr in ("name", "property"):
                if m.get(attr) and m.get("content") is not None:
                    tags[m[attr]] = m["content"]
        if tags:
            meta["meta_tags"] = tags
        if meta:
            content["metadata"] = meta
    return json_output(envelope("scrape", result={"url": url, "content": content},
                                metadata={"timestamp": _now(), "status_code": resp.status_code}))


WEB_SCRAPER = ToolSpec(
    name="web-scraper", category="data", security_level="restricted", tags=("network",),
    description="Fetch a web page and extract its title, text, links, images, meta tags or "
                "CSS-selected elements",
    params=[
        Param("input", "string", "The page URL", required=True),
        Param("selector", "string", "A CSS selector"),
        Param("selectors", "object", "Named CSS selectors {name = css}"),
        Param("extract_links", "boolean", "Include links", default=False),
        Param("extract_images", "boolean", "Include images", default=False),
        Param("extract_meta", "boolean", "Include meta tags", default=False),
        Param("timeout", "number", "Seconds", default=30),
    ],
    execute=_web_scraper,
)


def _webpage_monitor(ctx: ToolContext, p: Params) -> ToolOutput:
    import difflib

    url = p.req_str("input")
    resp = _fetch_page(ctx, url, float(p.number("timeout", 30)))
    soup = _soup(resp.text)
    selector = p.str("selector")
    if selector:
        current = "\n".join(_select(soup, selector))
    else:
        current = "\n".join(line.strip() for line in (soup.body or soup).get_text("\n")
                            .splitlines() if line.strip())
    previous = p.str("previous_content")
    if previous is None:
        return ok("monitor", {"url": url, "current_content": current, "has_changes": False,
                              "message": "No previous content provided - returning current "
                                         "state for future comparison"})
    ignore_ws = p.bool("ignore_whitespace", True)

    def lines(text: str) -> list[str]:
        if not ignore_ws:
            return text.splitlines()
        return [" ".join(x.split()) for x in text.splitlines() if x.strip()]

    old, new = lines(previous), lines(current)
    changes: list[dict[str, Any]] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for group, ops in enumerate(matcher.get_grouped_opcodes(3)):
        for tag, i1, i2, j1, j2 in ops:
            if tag == "replace":
                changes.append({"type": "modification", "old_line": i1 + 1,
                                "new_line": j1 + 1, "old_content": "\n".join(old[i1:i2]),
                                "new_content": "\n".join(new[j1:j2]), "group": group})
            elif tag == "delete":
                changes.append({"type": "deletion", "old_line": i1 + 1,
                                "content": "\n".join(old[i1:i2]), "group": group})
            elif tag == "insert":
                changes.append({"type": "addition", "new_line": j1 + 1,
                                "content": "\n".join(new[j1:j2]), "group": group})
    return ok("monitor", {"url": url, "current_content": current, "previous_content": previous,
                          "has_changes": bool(changes), "changes": changes,
                          "change_count": len(changes), "selector_used": selector,
                          "ignore_whitespace": ignore_ws})


WEBPAGE_MONITOR = ToolSpec(
    name="webpage-monitor", category="data", security_level="restricted", tags=("network",),
    description="Fetch a web page (or a CSS-selected part) and report line changes against "
                "previously seen content",
    params=[
        Param("input", "string", "The page URL", required=True),
        Param("previous_content", "string", "Content from the last check"),
        Param("selector", "string", "CSS selector narrowing the content"),
        Param("ignore_whitespace", "boolean", "Ignore whitespace changes", default=True),
        Param("timeout", "number", "Seconds", default=30),
    ],
    execute=_webpage_monitor,
)


# -- api-tester, webhook-caller -------------------------------------------------------

def _api_tester(ctx: ToolContext, p: Params) -> ToolOutput:
    url = p.req_str("input")
    method = _method(p)
    timeout = float(p.number("timeout", 30))
    started = time.perf_counter()
    resp = ctx.net.request(method, url, headers=_headers(p), timeout=timeout,
                           json_body=p.data.get("body"), follow_redirects=False)
    elapsed = time.perf_counter() - started
    body, is_json = _body_value(resp)
    return ok("test", {
        "request": {"method": method, "url": url, "timeout": timeout},
        "response": {"status_code": resp.status_code, "status_text": resp.reason,
                     "is_success": resp.ok, "headers": resp.headers, "body": body,
                     "body_is_json": is_json},
        "timing": {"duration_ms": int(elapsed * 1000), "duration_secs": elapsed}})


API_TESTER = ToolSpec(
    name="api-tester", category="data", security_level="restricted", tags=("network",),
    description="Send an HTTP request to an API and report status, headers, body and timing",
    params=[
        Param("input", "string", "The URL", required=True),
        Param("method", "string", "HTTP method", default="GET"),
        Param("headers", "object", "Headers"), Param("body", "object", "JSON body"),
        Param("timeout", "number", "Seconds", default=30),
    ],
    execute=_api_tester,
)


def _webhook(ctx: ToolContext, p: Params) -> ToolOutput:
    url = ctx.net.check_url(p.req_str("input"))
    method = _method(p, "POST")
    payload = p.data.get("payload", {})
    retries = max(0, min(10, p.int("max_retries", 3)))
    timeout = float(p.number("timeout", 30))
    headers = {"Content-Type": "application/json", **_headers(p)}
    delay = float(p.number("retry_delay_ms", 500)) / 1000
    error = ""
    started = time.perf_counter()
    for attempt in range(retries + 1):
        try:
            resp = ctx.net.request(method, url, headers=headers, json_body=payload,
                                   timeout=timeout)
        except SecurityViolation:
            raise
        except ToolNetworkError as exc:
            error = exc.message
        else:
            if resp.ok or 400 <= resp.status_code < 500 and resp.status_code != 429:
                body, is_json = _body_value(resp)
                return ok("call", {
                    "success": resp.ok, "webhook_url": url, "status_code": resp.status_code,
                    "status_text": resp.reason,
                    "response": {"body": resp.text, "json": body if is_json else None,
                                 "headers": resp.headers, "body_is_json": is_json},
                    "response_time_ms": int((time.perf_counter() - started) * 1000),
                    "retry_count": attempt})
            error = f"HTTP {resp.status_code} {resp.reason}"
        if attempt < retries:
            time.sleep(min(delay, ctx.timeout(delay)))
            delay *= 2
    message = f"Webhook call failed after {retries + 1} attempt(s): {error}"
    return json_output(envelope("call", success=False, error=message, result={
        "success": False, "webhook_url": url, "error": error, "max_retries": retries,
        "retry_count": retries}))


WEBHOOK_CALLER = ToolSpec(
    name="webhook-caller", category="data", security_level="restricted", tags=("network",),
    description="Call a webhook with a JSON payload (POST by default), retrying with "
                "exponential backoff",
    params=[
        Param("input", "string", "Webhook URL", required=True),
        Param("payload", "object", "JSON payload", default={}),
        Param("method", "string", "HTTP method", default="POST"),
        Param("headers", "object", "Headers"),
        Param("max_retries", "integer", "Retries after the first attempt", default=3),
        Param("timeout", "number", "Seconds per attempt", default=30),
    ],
    execute=_webhook,
)


# -- sitemap-crawler ------------------------------------------------------------------

def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _sitemap(ctx: ToolContext, p: Params) -> ToolOutput:
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException

    root_url = p.req_str("input")
    follow = p.bool("follow_sitemaps", True)
    max_urls = max(1, p.int("max_urls", 1000))
    timeout = float(p.number("timeout", 30))
    queue, seen = [root_url], set()
    urls: list[dict[str, Any]] = []
    stats = {"sitemaps_processed": 0, "index_files_found": 0, "total_urls_discovered": 0,
             "urls_with_metadata": 0}
    while queue and len(urls) < max_urls and len(seen) < 100:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.add(current)
        resp = _fetch_page(ctx, current, timeout)
        try:
            root = ElementTree.fromstring(resp.content)
        except (ElementTree.ParseError, DefusedXmlException) as exc:
            raise ToolError(f"Invalid sitemap XML at {current}: {exc}") from None
        stats["sitemaps_processed"] += 1
        if _local(root.tag) == "sitemapindex":
            stats["index_files_found"] += 1
            for sm in root:
                loc = next((c.text for c in sm if _local(c.tag) == "loc" and c.text), None)
                if loc and follow:
                    queue.append(loc.strip())
            continue
        for entry in root:
            if _local(entry.tag) != "url":
                continue
            item = {_local(c.tag): (c.text or "").strip() for c in entry}
            if "loc" not in item:
                continue
            stats["total_urls_discovered"] += 1
            if len(urls) < max_urls:
                rec: dict[str, Any] = {"url": item["loc"], "has_metadata": False}
                for key in ("lastmod", "changefreq"):
                    if item.get(key):
                        rec[key] = item[key]
                if item.get("priority"):
                    try:
                        rec["priority"] = float(item["priority"])
                    except ValueError:
                        pass
                rec["has_metadata"] = len(rec) > 2
                if rec["has_metadata"]:
                    stats["urls_with_metadata"] += 1
                urls.append(rec)
    return ok("crawl", {"sitemap_url": root_url, "urls_found": len(urls), "max_urls": max_urls,
                        "follow_sitemaps": follow, "urls": urls, "stats": stats})


SITEMAP_CRAWLER = ToolSpec(
    name="sitemap-crawler", category="data", tags=("network",),
    description="Fetch and parse a sitemap.xml (following sitemap indexes) into its URLs "
                "with lastmod, changefreq and priority",
    params=[
        Param("input", "string", "Sitemap URL", required=True),
        Param("follow_sitemaps", "boolean", "Recurse into sitemap indexes", default=True),
        Param("max_urls", "integer", "Maximum URLs returned", default=1000),
        Param("timeout", "number", "Seconds per fetch", default=30),
    ],
    execute=_sitemap,
)


TOOLS: list[ToolSpec] = [
    GRAPHQL_QUERY, HTTP_REQUEST, WEB_SEARCH, URL_ANALYZER, WEB_SCRAPER, API_TESTER,
    WEBHOOK_CALLER, WEBPAGE_MONITOR, SITEMAP_CRAWLER,
]
