"""Communication tools: email-sender (SMTP, SendGrid, SES) and database-connector
(SQLite built in; PostgreSQL/MySQL through psycopg/pymysql when installed).

Both report failures softly (``success = false``, ``error.message``) like upstream,
except missing parameters, which raise. Nothing is configured out of the box: the error
names the config keys (``[tools.email]``, ``[tools.database]``) or environment variables.
"""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .errors import ToolError, ToolValidationError
from .registry import ToolOutput, ToolSpec, envelope, json_output, timestamp
from .schema import Param, Params

if TYPE_CHECKING:
    from .context import ToolContext

_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")


def _soft(op: str, message: str) -> ToolOutput:
    return json_output(envelope(op, success=False, error=message))


def _setting(ctx: ToolContext, section: str, key: str, env: str | None = None) -> Any:
    value = ctx.get(f"tools.{section}.{key}")
    if value is None and env:
        value = os.environ.get(env)
    return value


# -- email-sender ---------------------------------------------------------------------

def _check_address(value: str, param: str) -> str:
    if not _ADDRESS.match(value):
        raise ToolValidationError(f"Invalid email address in '{param}': {value!r}")
    return value


def _build_message(sender: str, to: str, subject: str, body: str, html: bool) -> Any:
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    if any(c in subject for c in "\r\n"):
        raise ToolValidationError("Subject must not contain line breaks")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.split("@", 1)[1])
    if html:
        msg.set_content("This message is HTML; use an HTML-capable mail client.")
        msg.add_alternative(body, subtype="html")
    else:
        msg.set_content(body)
    return msg


def _send_smtp(ctx: ToolContext, msg: Any) -> dict[str, Any]:
    import smtplib
    import ssl

    host = _setting(ctx, "email", "smtp_host", "EMAIL_SMTP_HOST")
    if not host:
        raise ToolError("SMTP is not configured: set [tools.email] smtp_host (and smtp_port, "
                        "smtp_username, smtp_password) or EMAIL_SMTP_HOST")
    port = int(_setting(ctx, "email", "smtp_port", "EMAIL_SMTP_PORT") or 587)
    user = _setting(ctx, "email", "smtp_username", "EMAIL_SMTP_USERNAME")
    password = _setting(ctx, "email", "smtp_password", "EMAIL_SMTP_PASSWORD")
    security = str(_setting(ctx, "email", "smtp_security") or
                   ("ssl" if port == 465 else "starttls" if port == 587 else "none")).lower()
    timeout = ctx.timeout(float(_setting(ctx, "email", "timeout_seconds")))
    try:
        if security == "ssl":
            client: Any = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                           context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            client.ehlo()
            if security == "starttls":
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if user:
                client.login(user, password or "")
            refused = client.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:
        raise ToolError(f"SMTP error ({host}:{port}): {exc}") from None
    if refused:
        raise ToolError(f"SMTP server refused recipients: {', '.join(refused)}")
    return {"message_id": msg["Message-ID"].strip("<>")}


def _send_sendgrid(ctx: ToolContext, sender: str, to: str, subject: str, body: str,
                   html: bool) -> dict[str, Any]:
    key = _setting(ctx, "email", "sendgrid_api_key", "EMAIL_SENDGRID_API_KEY")
    if not key:
        raise ToolError("SendGrid is not configured: set [tools.email] sendgrid_api_key or "
                        "EMAIL_SENDGRID_API_KEY")
    base = _setting(ctx, "email", "sendgrid_base_url")
    payload = {"personalizations": [{"to": [{"email": to}]}], "from": {"email": sender},
               "subject": subject,
               "content": [{"type": "text/html" if html else "text/plain", "value": body}]}
    resp = ctx.net.request("POST", base.rstrip("/") + "/v3/mail/send",
                           headers={"Authorization": f"Bearer {key}"}, json_body=payload)
    if not resp.ok:
        raise ToolError(f"SendGrid returned HTTP {resp.status_code}: {resp.text[:300]}")
    return {"message_id": resp.headers.get("x-message-id")}


def _sigv4(method: str, url: str, body: bytes, region: str, key_id: str, secret: str,
           service: str = "ses", now: datetime | None = None) -> dict[str, str]:
    """AWS Signature Version 4 headers for one request."""
    import hashlib
    import hmac
    from urllib.parse import urlsplit

    now = now or datetime.now(UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    parts = urlsplit(url)
    host = parts.netloc
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = {"content-type": "application/json", "host": host, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join([method, parts.path or "/", parts.query,
                           "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)),
                           signed, payload_hash])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Amz-Date": amz_date,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, "
                             f"SignedHeaders={signed}, Signature={signature}"}


def _send_ses(ctx: ToolContext, sender: str, to: str, subject: str, body: str,
              html: bool) -> dict[str, Any]:
    import json

    key_id = _setting(ctx, "email", "ses_access_key_id", "EMAIL_SES_ACCESS_KEY_ID")
    secret = _setting(ctx, "email", "ses_secret_access_key", "EMAIL_SES_SECRET_ACCESS_KEY")
    region = _setting(ctx, "email", "ses_region", "EMAIL_SES_REGION") or "us-east-1"
    if not key_id or not secret:
        raise ToolError("SES is not configured: set [tools.email] ses_access_key_id and "
                        "ses_secret_access_key (or EMAIL_SES_ACCESS_KEY_ID and "
                        "EMAIL_SES_SECRET_ACCESS_KEY)")
    base = _setting(ctx, "email", "ses_base_url") or f"https://email.{region}.amazonaws.com"
    url = base.rstrip("/") + "/v2/email/outbound-emails"
    data = json.dumps({"FromEmailAddress": sender, "Destination": {"ToAddresses": [to]},
                       "Content": {"Simple": {"Subject": {"Data": subject},
                                              "Body": {("Html" if html else "Text"):
                                                       {"Data": body}}}}}).encode()
    resp = ctx.net.request("POST", url, headers=_sigv4("POST", url, data, region, key_id,
                                                       secret), content=data)
    if not resp.ok:
        raise ToolError(f"SES returned HTTP {resp.status_code}: {resp.text[:300]}")
    try:
        return {"message_id": resp.json().get("MessageId")}
    except ValueError:
        return {"message_id": None}


def _email(ctx: ToolContext, p: Params) -> ToolOutput:
    sender = p.req_str("from")
    to, subject, body = p.req_str("to"), p.req_str("subject"), p.req_str("body")
    html = p.bool("html", False)
    provider = p.str("provider", "smtp").lower()
    if provider not in ("smtp", "sendgrid", "ses"):
        raise ToolValidationError(f"Unknown email provider: {provider} (smtp, sendgrid, ses)")
    if not sender:
        sender = _setting(ctx, "email", "default_sender", "EMAIL_DEFAULT_SENDER") or ""
        if not sender:
            raise ToolValidationError("'from' is empty and no default sender is configured "
                                      "([tools.email] default_sender or EMAIL_DEFAULT_SENDER)")
    _check_address(sender, "from")
    _check_address(to, "to")
    try:
        if provider == "smtp":
            info = _send_smtp(ctx, _build_message(sender, to, subject, body, html))
        elif provider == "sendgrid":
            info = _send_sendgrid(ctx, sender, to, subject, body, html)
        else:
            info = _send_ses(ctx, sender, to, subject, body, html)
    except ToolValidationError:
        raise
    except ToolError as exc:
        return _soft("send_email", f"Failed to send email: {exc.message}")
    result = {"provider": provider, "status": "sent", **info,
              "timestamp": timestamp()}
    return json_output(envelope("send_email", message=f"Email sent successfully via {provider}",
                                result=result))


EMAIL_SENDER = ToolSpec(
    name="email-sender", category="api", security_level="restricted",
    tags=("external service",),
    description="Send an email through SMTP, SendGrid or Amazon SES (configured in "
                "[tools.email] or EMAIL_* environment variables)",
    params=[
        Param("from", "string", "Sender address ('' = configured default)", required=True),
        Param("to", "string", "Recipient address", required=True),
        Param("subject", "string", "Subject", required=True),
        Param("body", "string", "Body", required=True),
        Param("html", "boolean", "Body is HTML", default=False),
        Param("provider", "string", "smtp | sendgrid | ses", default="smtp"),
    ],
    execute=_email,
)


# -- database-connector ---------------------------------------------------------------

DDL = {"CREATE", "DROP", "ALTER", "TRUNCATE", "RENAME", "ATTACH", "DETACH", "VACUUM",
       "REINDEX", "PRAGMA", "GRANT", "REVOKE"}
DML = {"INSERT", "UPDATE", "DELETE", "REPLACE", "UPSERT", "MERGE"}
READ = {"SELECT", "WITH", "EXPLAIN", "SHOW", "DESCRIBE", "VALUES"}


def _first_keyword(sql: str) -> str:
    text = re.sub(r"^(\s|--[^\n]*\n|/\*.*?\*/)*", "", sql, flags=re.S)
    m = re.match(r"[A-Za-z]+", text)
    return m.group(0).upper() if m else ""


def _connection_url(ctx: ToolContext, name: str) -> str | None:
    conns = ctx.get("tools.database.connections")
    if name in conns:
        return str(conns[name])
    if name != "default":
        return None
    for env, prefix in (("DATABASE_SQLITE_PATH", "sqlite:///"),
                        ("DATABASE_POSTGRESQL_URL", ""), ("DATABASE_MYSQL_URL", "")):
        if os.environ.get(env):
            return prefix + os.environ[env]
    path = ctx.get("tools.database.sqlite_path")
    return f"sqlite:///{path}" if path else None


# Caps for SQLite: one value (string or blob) and one whole result, in bytes. A larger
# value fails with SQLite's own "string or blob too big" before it is built.
SQLITE_VALUE_LIMIT = 16 * 1024 * 1024
RESULT_LIMIT = 32 * 1024 * 1024
# Functions and pragmas that reach other files or native code, refused whatever the
# config says (DDL or not): the database file named in the config is the only file a
# query may touch.
SQLITE_DENIED_FUNCTIONS = {"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"}
SQLITE_DENIED_PRAGMAS = {"temp_store_directory", "data_store_directory", "writable_schema"}


def _sqlite_authorizer(allow_ddl: bool, allow_dml: bool) -> Any:
    import sqlite3

    ddl_codes = {getattr(sqlite3, n) for n in dir(sqlite3)
                 if n.startswith(("SQLITE_CREATE_", "SQLITE_DROP_", "SQLITE_ALTER_"))}
    ddl_codes |= {sqlite3.SQLITE_PRAGMA}
    dml_codes = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}
    # ATTACH is also how VACUUM INTO writes its copy
    never = {sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH}

    def authorize(action: int, arg1: Any = None, arg2: Any = None, *rest: Any) -> int:
        if action in never:
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_FUNCTION and str(arg2).lower() in SQLITE_DENIED_FUNCTIONS:
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_PRAGMA and str(arg1).lower() in SQLITE_DENIED_PRAGMAS:
            return sqlite3.SQLITE_DENY
        if action in ddl_codes and not allow_ddl:
            return sqlite3.SQLITE_DENY
        if action in dml_codes and not allow_dml:
            # SQLite reports reading its own schema as an UPDATE of sqlite_master
            if action == sqlite3.SQLITE_UPDATE and arg1 in ("sqlite_master",
                                                            "sqlite_temp_master"):
                return sqlite3.SQLITE_OK
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    return authorize


def _seal_sqlite(conn: Any, allow_ddl: bool, allow_dml: bool, deadline: float) -> None:
    """No other database files, no extensions, bounded values, bounded time."""
    import sqlite3

    if hasattr(conn, "enable_load_extension"):
        conn.enable_load_extension(False)
    if hasattr(conn, "setlimit"):  # Python 3.11+
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, SQLITE_VALUE_LIMIT)
    conn.set_authorizer(_sqlite_authorizer(allow_ddl, allow_dml))
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)


def _fetch(cur: Any, max_rows: int) -> list[dict[str, Any]]:
    """Up to ``max_rows`` rows as dicts, refusing a result larger than RESULT_LIMIT bytes."""
    cols = [d[0] for d in cur.description or []]
    if not cols:
        return []
    rows, size = [], 0
    for row in cur.fetchmany(max_rows):
        size += sum(len(v) if isinstance(v, str | bytes) else 8 for v in row)
        if size > RESULT_LIMIT:
            raise ToolError(f"query result exceeds {RESULT_LIMIT} bytes")
        rows.append(dict(zip(cols, row, strict=True)))
    return rows


def _run_sqlite(path: str, sql: str, params: list[Any], allow_ddl: bool, allow_dml: bool,
                max_rows: int, timeout: float) -> tuple[list[dict[str, Any]], int]:
    import sqlite3

    try:
        conn = sqlite3.connect(path, timeout=timeout)
    except sqlite3.Error as exc:
        raise ToolError(f"cannot open SQLite database {path}: {exc}") from None
    deadline = time.monotonic() + timeout
    try:
        _seal_sqlite(conn, allow_ddl, allow_dml, deadline)
        cur = conn.execute(sql, params)
        rows = _fetch(cur, max_rows)
        conn.commit()
        return rows, cur.rowcount
    except sqlite3.Error as exc:
        text = str(exc)
        if text == "interrupted":
            text = f"query exceeded {timeout:g} s"
        elif "too big" in text:
            text += f" (values are limited to {SQLITE_VALUE_LIMIT} bytes)"
        elif "not authorized" in text:
            text += (" (ATTACH, VACUUM INTO and extensions are never allowed; DDL needs "
                     "[tools.database] allow_ddl = true; DML needs allow_dml)")
        raise ToolError(text) from None
    finally:
        conn.close()


def _run_dbapi(url: str, sql: str, params: list[Any], max_rows: int
               ) -> tuple[list[dict[str, Any]], int]:
    if url.startswith(("postgres://", "postgresql://")):
        try:
            import psycopg  # type: ignore[import-not-found]
        except ImportError:
            raise ToolError("PostgreSQL needs the 'psycopg' package "
                            "(pip install psycopg[binary])") from None
        conn = psycopg.connect(url)
    elif url.startswith("mysql://"):
        try:
            import pymysql  # type: ignore[import-not-found]
        except ImportError:
            raise ToolError("MySQL needs the 'pymysql' package (pip install pymysql)") from None
        from urllib.parse import unquote, urlsplit

        u = urlsplit(url)
        conn = pymysql.connect(host=u.hostname, port=u.port or 3306, user=unquote(u.username
                                                                                  or ""),
                               password=unquote(u.password or ""), database=u.path.lstrip("/"))
    else:
        raise ToolError(f"Unsupported database URL: {url.split(':', 1)[0]}:// (sqlite, "
                        "postgresql, mysql)")
    try:
        cur = conn.cursor()
        cur.execute(sql, params or None)
        rows = _fetch(cur, max_rows)
        conn.commit()
        return rows, cur.rowcount
    except Exception as exc:  # each driver has its own error tree
        raise ToolError(str(exc)) from None
    finally:
        conn.close()


def _jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import base64

    out = []
    for row in rows:
        out.append({k: (base64.b64encode(v).decode() if isinstance(v, bytes | bytearray)
                        else v if isinstance(v, int | float | str | bool | type(None))
                        else str(v)) for k, v in row.items()})
    return out


def _database(ctx: ToolContext, p: Params) -> ToolOutput:
    op = p.req_str("operation")
    name = p.str("database", "default")
    ddl = _setting(ctx, "database", "allow_ddl", "DATABASE_ALLOW_DDL")  # config, env, unset
    allow_ddl = ddl is True or ddl == "true"
    dml = _setting(ctx, "database", "allow_dml", "DATABASE_ALLOW_DML")
    allow_dml = dml is None or dml is True or dml == "true"
    rows = _setting(ctx, "database", "max_rows", "DATABASE_MAX_ROWS")
    max_rows = 1000 if rows is None else int(rows)
    timeout = ctx.timeout(float(ctx.get("tools.database.timeout_seconds")))
    if op not in ("query", "schema"):
        return _soft("unknown_operation", f"Unknown operation: {op} (query, schema)")
    if op == "query":
        sql = p.req_str("query")
        params = p.list("parameters", []) or []
    url = _connection_url(ctx, name)
    if url is None:
        return _soft(op, f"Database query failed: Database '{name}' not configured (set "
                         f"[tools.database.connections] {name} = \"sqlite:///path.db\", or "
                         "DATABASE_SQLITE_PATH / DATABASE_POSTGRESQL_URL / DATABASE_MYSQL_URL)")
    kind = "sqlite" if url.startswith("sqlite:") else url.split(":", 1)[0]
    started = time.perf_counter()
    try:
        if op == "schema":
            if kind != "sqlite":
                sql = ("SELECT table_name, column_name, data_type FROM "
                       "information_schema.columns WHERE table_schema NOT IN "
                       "('pg_catalog', 'information_schema', 'mysql', 'sys', "
                       "'performance_schema') ORDER BY table_name, ordinal_position")
                rows, _ = _run_dbapi(url, sql, [], 100_000)
                tables: dict[str, list[dict[str, Any]]] = {}
                for r in rows:
                    vals = list(r.values())
                    tables.setdefault(vals[0], []).append({"name": vals[1], "type": vals[2]})
            else:
                path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
                names, _ = _run_sqlite(path, "SELECT name FROM sqlite_master WHERE type = "
                                       "'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
                                       [], True, False, 10_000, timeout)
                tables = {}
                for t in names:
                    cols, _ = _run_sqlite(path, "SELECT name, type, \"notnull\", pk FROM "
                                          "pragma_table_info(?)", [t["name"]], True, False,
                                          10_000, timeout)
                    tables[t["name"]] = [{"name": c["name"], "type": c["type"],
                                          "nullable": not c["notnull"],
                                          "primary_key": bool(c["pk"])} for c in cols]
            result = {"database_type": kind, "tables": [{"name": k, "columns": v}
                                                        for k, v in tables.items()]}
            return json_output(envelope("schema", message=f"Schema of database '{name}'",
                                        result=result))
        keyword = _first_keyword(sql)
        if keyword in DDL and not allow_ddl:
            raise ToolError(f"{keyword} statements are not allowed ([tools.database] "
                            "allow_ddl = true enables DDL)")
        if keyword in DML and not allow_dml:
            raise ToolError(f"{keyword} statements are not allowed ([tools.database] "
                            "allow_dml = false)")
        if keyword not in DDL | DML | READ:
            raise ToolError(f"Unsupported SQL statement: {keyword or sql[:20]!r}")
        if kind == "sqlite":
            path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
            rows, affected = _run_sqlite(path, sql, params, allow_ddl, allow_dml, max_rows,
                                         timeout)
        else:
            rows, affected = _run_dbapi(url, sql, params, max_rows)
    except ToolError as exc:
        return _soft(op, f"Database query failed: {exc.message}")
    result = {"database_type": kind, "query": sql, "results": _jsonable(rows),
              "rows_affected": affected if affected >= 0 else len(rows),
              "execution_time_ms": int((time.perf_counter() - started) * 1000),
              "status": "executed",
              "timestamp": timestamp(),
              "truncated": len(rows) >= max_rows}
    return json_output(envelope("query", message=f"Query executed on '{name}'", result=result),
                       )


DATABASE_CONNECTOR = ToolSpec(
    name="database-connector", category="data", security_level="restricted",
    tags=("external service",),
    description="Run SQL queries against a configured SQLite, PostgreSQL or MySQL database "
                "(DDL off and DML on by default), or read its schema",
    params=[
        Param("operation", "string", "query | schema", required=True),
        Param("query", "string", "SQL statement (query)"),
        Param("parameters", "array", "Positional parameters for ? / %s placeholders"),
        Param("query_type", "string", "Informational: SELECT, INSERT, ...", default="SELECT"),
        Param("database", "string", "Connection name in [tools.database.connections]",
              default="default"),
    ],
    execute=_database,
)

TOOLS: list[ToolSpec] = [EMAIL_SENDER, DATABASE_CONNECTOR]
