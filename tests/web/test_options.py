"""``parley web`` on the command line: a bad value is one sentence and exit status 2."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import trustme

from frontends.web.options import WebConfig, add_web_parser, config_from
from frontends.web.server import tui_command
from tests.test_cli import one_sentence, parley

pytest.importorskip("textual_serve")


@pytest.mark.parametrize(
    ("args", "env", "named", "words"),
    [
        (("--port", "0"), {}, "--port", "from 1 to 65535"),
        ((), {"PARLEY_WEB_PORT": "http"}, "PARLEY_WEB_PORT", "whole number"),
        (("--server", "chat:99999"), {}, "--server", "from 1 to 65535"),
        (("--public-url", "chat.example.org"), {}, "--public-url", "https://"),
        (("--max-sessions", "0"), {}, "--max-sessions", "from 1 up"),
        (("--host", "192.0.2.1"), {}, "--host", "192.0.2.1"),
        (("--login-screen-timeout", "-1"), {}, "--login-screen-timeout", "0 (none) or more"),
        (("--ca", "nowhere.pem"), {}, "--ca", "no such file"),
        ((), {"PARLEY_WEB_TLS": "maybe"}, "PARLEY_WEB_TLS", "true or false"),
    ],
)
def test_web_refuses_a_bad_value(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], named: str, words: str
) -> None:
    """A bad flag or PARLEY_WEB_* value is one sentence naming it and exit status 2."""
    one_sentence(parley(tmp_path, "web", *args, env=env), "web", named, words)


def test_each_tab_runs_parley_tui_on_the_fixed_server() -> None:
    """The command per browser tab is `parley tui` on the given server, which it cannot change,
    with the shell replaced by it; the public URL is what pages use for their websocket."""
    config = WebConfig(server_host="chat.internal", server_port=7000, public_url="https://c.org/")
    command = tui_command(config)
    assert command.startswith("exec ")
    assert command.endswith(
        "-m parley tui --host chat.internal --port 7000 --fixed-server --login-screen-timeout 120.0"
    )
    assert config.url == "https://c.org"
    assert WebConfig(host="::1", port=8080).url == "http://[::1]:8080"


def test_a_tab_may_stay_on_the_login_screen_without_limit_when_asked() -> None:
    """--login-screen-timeout 0 (or PARLEY_WEB_LOGIN_SCREEN_TIMEOUT=0) runs each tab's `parley
    tui` without the limit; a number sets it."""
    parser = argparse.ArgumentParser()
    add_web_parser(parser.add_subparsers())
    off = config_from(parser.parse_args(["web", "--login-screen-timeout", "0"]), {})
    assert "--login-screen-timeout" not in tui_command(off)
    env = {"PARLEY_WEB_LOGIN_SCREEN_TIMEOUT": "30"}
    assert tui_command(config_from(parser.parse_args(["web"]), env)).endswith(
        "--login-screen-timeout 30.0"
    )


def test_tabs_reach_the_chat_server_in_tls_when_asked(tmp_path: Path) -> None:
    """--tls runs each tab's `parley tui` with --tls, on the TLS port unless one is given;
    --ca passes the CA file on (and implies TLS); PARLEY_WEB_TLS=1 is --tls."""
    parser = argparse.ArgumentParser()
    add_web_parser(parser.add_subparsers())
    tls = config_from(parser.parse_args(["web", "--tls", "--server", "chat.example.org"]), {})
    assert (tls.server_host, tls.server_port, tls.server_tls) == ("chat.example.org", 65434, True)
    assert "--port 65434 --fixed-server --tls " in tui_command(tls)
    given = config_from(
        parser.parse_args(["web", "--server", "chat:7000"]), {"PARLEY_WEB_TLS": "1"}
    )
    assert given.server_port == 7000 and "--tls" in tui_command(given)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(trustme.CA().cert_pem.bytes())
    verified = config_from(parser.parse_args(["web", "--ca", str(ca)]), {})
    assert verified.server_port == 65434
    assert f"--fixed-server --ca {ca} " in tui_command(verified)
    plain = config_from(parser.parse_args(["web"]), {"PARLEY_WEB_TLS": "0"})
    assert not plain.server_tls and "--tls" not in tui_command(plain)
