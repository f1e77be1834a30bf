"""email-sender against a loopback SMTP server (aiosmtpd) and a loopback HTTP API;
database-connector against real SQLite files."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llmspell.config import from_dict
from llmspell.errors import ToolError
from llmspell.tools.service import ToolService


def service(**tools) -> ToolService:
    return ToolService(from_dict({"tools": tools}, environ={}))


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    class Sink:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    sink = Sink()
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, sink
    finally:
        controller.stop()


def test_email_via_smtp(smtp_server):
    port, sink = smtp_server
    svc = service(email={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none"})
    r = svc.invoke("email-sender", {"from": "bot@example.com", "to": "ann@example.org",
                                    "subject": "Hello", "body": "Body text"})
    assert r["success"] is True and r["message"] == "Email sent successfully via smtp"
    assert r["result"]["status"] == "sent" and r["result"]["message_id"]
    assert "\n" not in r["_raw_text"]  # compact JSON like upstream
    (msg,) = sink.messages
    assert msg.mail_from == "bot@example.com" and msg.rcpt_tos == ["ann@example.org"]
    assert b"Subject: Hello" in msg.content and b"Body text" in msg.content


def test_email_default_sender_and_html(smtp_server):
    port, sink = smtp_server
    svc = service(email={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none",
                         "default_sender": "noreply@example.com"})
    svc.invoke("email-sender", {"from": "", "to": "a@b.io", "subject": "S",
                                "body": "<b>hi</b>", "html": True})
    assert sink.messages[0].mail_from == "noreply@example.com"
    assert b"text/html" in sink.messages[0].content


def test_email_not_configured_is_soft():
    r = service().invoke("email-sender", {"from": "a@b.io", "to": "c@d.io", "subject": "s",
                                          "body": "b"})
    assert r["success"] is False and r["operation"] == "send_email"
    assert r["error"]["message"].startswith("Failed to send email: SMTP is not configured")
    assert "smtp_host" in r["error"]["message"]


def test_email_missing_param_raises():
    with pytest.raises(ToolError, match="Missing required parameter 'subject'"):
        service().invoke("email-sender", {"from": "a@b.io", "to": "c@d.io", "body": "b"})


@pytest.mark.parametrize(("field", "value"), [
    ("subject", "Hi\r\nBcc: victim@example.com"),
    ("to", "a@b.io, victim@example.com"),
    ("to", "a@b.io\r\nBcc: victim@example.com"),
    ("from", "x@y.io>\r\nBcc: v@e.com"),
])
def test_email_header_injection_refused(smtp_server, field, value):
    port, sink = smtp_server
    svc = service(email={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none"})
    params = {"from": "a@b.io", "to": "c@d.io", "subject": "s", "body": "b", field: value}
    with pytest.raises(ToolError, match="Validation error"):
        svc.invoke("email-sender", params)
    assert sink.messages == []


@pytest.fixture
def api_server():
    seen = []

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"path": self.path, "headers": dict(self.headers),
                         "body": json.loads(body)})
            if self.path == "/v3/mail/send":
                self.send_response(202)
                self.send_header("X-Message-Id", "sg-123")
                self.end_headers()
            else:
                out = json.dumps({"MessageId": "ses-456"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}", seen
    srv.shutdown()
    srv.server_close()


def test_email_sendgrid_and_ses(api_server):
    base, seen = api_server
    svc = service(network={"allow_private_addresses": True}, email={
        "sendgrid_api_key": "SG.key", "sendgrid_base_url": base,
        "ses_access_key_id": "AKIDEXAMPLE", "ses_secret_access_key": "secret",
        "ses_region": "eu-west-1", "ses_base_url": base})
    sg = svc.invoke("email-sender", {"from": "a@b.io", "to": "c@d.io", "subject": "S",
                                     "body": "B", "provider": "sendgrid"})
    assert sg["success"] is True and sg["result"]["message_id"] == "sg-123"
    assert seen[0]["headers"]["Authorization"] == "Bearer SG.key"
    assert seen[0]["body"]["personalizations"] == [{"to": [{"email": "c@d.io"}]}]
    ses = svc.invoke("email-sender", {"from": "a@b.io", "to": "c@d.io", "subject": "S",
                                      "body": "B", "provider": "ses"})
    assert ses["result"]["message_id"] == "ses-456"
    auth = seen[1]["headers"]["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/ses/aws4_request" in auth
    assert "SignedHeaders=content-type;host;x-amz-date" in auth
    assert seen[1]["body"]["Destination"] == {"ToAddresses": ["c@d.io"]}


# -- database-connector ---------------------------------------------------------------

@pytest.fixture
def db(tmp_path):
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                       "age INTEGER); INSERT INTO users (name, age) VALUES ('ann', 31), "
                       "('bob', 25);")
    conn.close()
    return path


def test_database_query_and_dml(db):
    svc = service(database={"connections": {"default": f"sqlite:///{db}"}})
    r = svc.invoke("database-connector", {"operation": "query",
                                          "query": "SELECT name, age FROM users ORDER BY id"})
    assert r["success"] is True and r["result"]["database_type"] == "sqlite"
    assert r["result"]["results"] == [{"name": "ann", "age": 31}, {"name": "bob", "age": 25}]
    ins = svc.invoke("database-connector", {"operation": "query",
                                            "query": "INSERT INTO users (name) VALUES (?)",
                                            "parameters": ["cid"]})
    assert ins["result"]["rows_affected"] == 1
    assert sqlite3.connect(db).execute("SELECT count(*) FROM users").fetchone() == (3,)
    schema = svc.invoke("database-connector", {"operation": "schema"})
    (users,) = schema["result"]["tables"]
    assert users["name"] == "users"
    assert [c["name"] for c in users["columns"]] == ["id", "name", "age"]
    assert users["columns"][1]["nullable"] is False


def test_database_ddl_blocked_by_default(db):
    svc = service(database={"connections": {"default": f"sqlite:///{db}"}})
    for sql in ("DROP TABLE users", "CREATE TABLE x (a)",
                "WITH t AS (SELECT 1) SELECT * FROM t; DROP TABLE users",
                f"ATTACH DATABASE '{db}.other' AS o"):
        r = svc.invoke("database-connector", {"operation": "query", "query": sql})
        assert r["success"] is False, sql
        assert r["error"]["message"].startswith("Database query failed:")
    assert sqlite3.connect(db).execute("SELECT count(*) FROM users").fetchone() == (2,)
    assert not (db.parent / "app.db.other").exists()


def test_database_authorizer_catches_disguised_ddl(db):
    # a statement whose first keyword is allowed but which still writes is denied by
    # SQLite's authorizer when DML is off
    svc = service(database={"connections": {"default": f"sqlite:///{db}"}, "allow_dml": False})
    r = svc.invoke("database-connector", {"operation": "query",
                                          "query": "WITH x AS (SELECT 1) DELETE FROM users"})
    assert r["success"] is False and "not authorized" in r["error"]["message"]
    assert sqlite3.connect(db).execute("SELECT count(*) FROM users").fetchone() == (2,)


def test_database_ddl_allowed_when_configured(db):
    svc = service(database={"connections": {"default": f"sqlite:///{db}"}, "allow_ddl": True})
    r = svc.invoke("database-connector", {"operation": "query",
                                          "query": "CREATE TABLE t (a INTEGER)"})
    assert r["success"] is True


def test_database_not_configured_and_bad_sql(db):
    r = service().invoke("database-connector", {"operation": "query", "query": "SELECT 1"})
    assert r["success"] is False
    assert "Database 'default' not configured" in r["error"]["message"]
    svc = service(database={"connections": {"default": f"sqlite:///{db}"}})
    bad = svc.invoke("database-connector", {"operation": "query", "query": "SELECT * FROM nope"})
    assert bad["success"] is False and "no such table" in bad["error"]["message"]
    unknown = svc.invoke("database-connector", {"operation": "frobnicate"})
    assert unknown["operation"] == "unknown_operation" and unknown["success"] is False
    with pytest.raises(ToolError, match="Missing required parameter 'query'"):
        svc.invoke("database-connector", {"operation": "query"})


def test_database_max_rows(db):
    svc = service(database={"connections": {"default": f"sqlite:///{db}"}, "max_rows": 1})
    r = svc.invoke("database-connector", {"operation": "query", "query": "SELECT * FROM users"})
    assert len(r["result"]["results"]) == 1 and r["result"]["truncated"] is True
