"""The event webhook (``[events.export] webhook``) under the one network guard.

The webhook URL is the user's: only a config that grants rights (or the environment) can
set it, and it is trusted as written (a local collector on 127.0.0.1 works). Anything
else the POST might reach is not the user's choice: a redirect to a private, loopback or
link-local address, or to a name resolving to one, is refused unless the user's config
says ``[tools.network] allow_private_addresses = true``; a webhook set by a config in the
current folder (a script may have written it) is ignored.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tools_helpers import run_cli

from llmspell import config as config_mod
from llmspell.events import EventBus


class _Server:
    """A loopback server recording each request; ``redirect_to`` makes it answer 302."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.redirect_to: str | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                outer.seen.append((self.command, self.path))
                if outer.redirect_to:
                    self.send_response(302)
                    self.send_header("location", outer.redirect_to)
                else:
                    self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            do_GET = do_POST = _answer  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hook() -> Iterator[_Server]:
    server = _Server()
    yield server
    server.close()


@pytest.fixture
def internal() -> Iterator[_Server]:
    server = _Server()
    yield server
    server.close()


def _publish(config: dict[str, Any]) -> Any:
    settings = config_mod.from_dict(config, environ={})
    bus = EventBus.from_settings(settings)
    bus.publish("order.created", {"id": 1})
    bus.close()  # waits for the webhook queue to drain
    return bus._export


def _webhook(url: str, **network: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"events": {"export": {"webhook": url}}}
    if network:
        config["tools"] = {"network": network}
    return config


def test_user_configured_loopback_webhook_is_trusted(hook: _Server) -> None:
    exporter = _publish(_webhook(hook.url + "/hook"))
    assert hook.seen == [("POST", "/hook")]
    assert exporter.webhook_sent == 1


def test_redirect_to_a_loopback_service_is_refused(hook: _Server, internal: _Server,
                                                   capsys: pytest.CaptureFixture[str]
                                                   ) -> None:
    hook.redirect_to = internal.url + "/admin"
    exporter = _publish(_webhook(hook.url + "/hook"))
    assert internal.seen == []  # never connected
    assert exporter.webhook_failed == 1
    err = capsys.readouterr().err
    assert "private or local address" in err and "allow_private_addresses" in err, err


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/",
                                    "http://[::1]:1/x", "http://localhost:1/x",
                                    "file:///etc/passwd"])
def test_redirect_to_metadata_loopback_or_other_schemes_is_refused(
        hook: _Server, target: str, capsys: pytest.CaptureFixture[str]) -> None:
    hook.redirect_to = target
    exporter = _publish(_webhook(hook.url + "/hook"))
    assert exporter.webhook_failed == 1 and exporter.webhook_sent == 0
    err = capsys.readouterr().err
    assert "blocked" in err or "not allowed" in err, err


def test_redirect_to_a_name_resolving_to_a_private_address_is_refused(
        hook: _Server, internal: _Server, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:  # the edge: DNS
        if host == "collector.example":
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    port = internal.httpd.server_address[1]
    hook.redirect_to = f"http://collector.example:{port}/admin"
    exporter = _publish(_webhook(hook.url + "/hook"))
    assert internal.seen == []
    assert exporter.webhook_failed == 1
    assert "resolves to a private or local address" in capsys.readouterr().err


def test_the_users_grant_lets_the_redirect_through(hook: _Server, internal: _Server
                                                   ) -> None:
    hook.redirect_to = internal.url + "/collector"
    exporter = _publish(_webhook(hook.url + "/hook", allow_private_addresses=True))
    assert internal.seen == [("GET", "/collector")]  # 302 continues as GET
    assert exporter.webhook_sent == 1


def test_redirect_within_the_users_own_origin_is_followed(hook: _Server) -> None:
    hook.redirect_to = hook.url + "/moved"
    exporter = _publish(_webhook(hook.url + "/hook"))
    assert exporter.webhook_failed == 1  # it keeps redirecting: too many hops
    assert hook.seen[:2] == [("POST", "/hook"), ("GET", "/moved")]


def test_a_webhook_that_is_not_http_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    exporter = _publish(_webhook("file:///etc/passwd"))
    assert exporter.webhook_failed == 1
    assert "scheme 'file' is not allowed" in capsys.readouterr().err


def test_a_current_folder_config_cannot_set_a_webhook(tmp_path: Path, internal: _Server
                                                      ) -> None:
    (tmp_path / "llmspell.toml").write_text(
        f'[events]\nenabled = true\n[events.export]\nwebhook = "{internal.url}/steal"\n'
        '[tools.network]\nallow_private_addresses = true\n')
    home = tmp_path / "home"
    home.mkdir()
    done = run_cli('Event.publish("secret.data", {v = "x"})\nprint("done")', tmp_path,
                   env={"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                        "LLMSPELL_CONFIG": "", "LLMSPELL_EVENTS_EXPORT_WEBHOOK": ""})
    assert "done" in done.stdout.split(), done.stdout + done.stderr
    assert internal.seen == [], json.dumps(internal.seen)
