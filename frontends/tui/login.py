"""The login screen: which nick, which server, and why the last try did not work.

This module owns ``LoginScreen``, shown when ``parley tui`` starts without ``--nick`` or when the
server refuses the nick (``nick_taken``, ``bad_nick``, ``bad_password``). Its TLS switch
(remembered with the server) chooses an encrypted connection; its password field (masked, and
optional: a guest needs none) signs in to an account and goes only to the engine, never to the
client config. It checks what it can locally (a valid nick, a ``host:port`` that
parses) and otherwise only posts ``LoginScreen.Submitted`` for the app to act on; the app reports
back through ``show_error`` and ``show_progress``, so the user can fix the nick and try again
without restarting. Enter in the nick field moves on, Enter in the server field (or in the nick
field once the server is filled) submits. With ``server_fixed`` (the app run by ``parley ssh`` or
``parley web`` for someone else) the server and its TLS switch are shown but cannot be changed, so
a visitor cannot point the gateway's machine at another host. With ``pin_offered`` (a visitor
of an SSH gateway that proves their key) a switch, on by default, pins the nick to the key, so
that their next session with it signs straight in; it takes the place of the TLS switch, which
the gateway fixes, so that the screen still fits a terminal of 80x24.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static, Switch

from app.protocol import DEFAULT_PORT, is_valid_nick
from frontends.tui.chatlog import printable


def parse_server(text: str) -> tuple[str, int] | None:
    """``host`` and ``port`` from ``host:port`` or ``host`` (the default port); None if bad."""
    text = text.strip()
    if not text:
        return None
    host, colon, port_text = text.rpartition(":")
    if not colon:
        return text, DEFAULT_PORT
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return host.strip("[]"), int(port_text)


def format_server(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class LoginScreen(Screen[None]):
    """Asks for a nick and a server; shows the server's refusal and lets the user retry."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.quit", "Quit", show=False),
    ]

    class Submitted(Message):
        """The user wants to connect as ``nick`` to ``host``:``port`` (in TLS if ``tls``), with
        the account's ``password`` if one was typed."""

        def __init__(
            self,
            nick: str,
            host: str,
            port: int,
            tls: bool = False,
            password: str | None = None,
            pin: bool = False,
        ) -> None:
            super().__init__()
            self.nick = nick
            self.host = host
            self.port = port
            self.tls = tls
            self.password = password
            self.pin = pin

    def __init__(
        self,
        *,
        nick: str,
        host: str,
        port: int,
        error: str = "",
        tls: bool = False,
        password: str = "",
        server_fixed: bool = False,
        pin_offered: bool = False,
    ) -> None:
        super().__init__()
        self._pin_offered = pin_offered
        self._nick = nick
        self._password = password
        self._server = format_server(host, port)
        self._error = printable(error)
        self._tls = tls
        self._server_fixed = server_fixed

    def compose(self) -> ComposeResult:
        with Vertical(id="login-box"):
            yield Static("Parley", id="login-title")
            yield Label("Nick")
            nick = Input(
                self._nick, placeholder="your nick", id="login-nick", max_length=24, compact=True
            )
            nick.cursor_blink = not self._server_fixed  # as the app's prompt, for a gateway
            yield nick
            yield Label("Server")
            yield Input(
                self._server,
                placeholder="host:port",
                id="login-server",
                compact=True,
                disabled=self._server_fixed,
            )
            yield Label("Password")
            yield Input(
                self._password,
                placeholder="only for a registered nick",
                id="login-password",
                password=True,
                compact=True,
            )
            if self._pin_offered:
                # In the TLS switch's place, which the gateway fixes: the box fits in 80x24.
                with Horizontal(id="login-pin-row"):
                    yield Switch(True, id="login-pin", animate=False)
                    yield Label(
                        "Pin this nick to my SSH key: it signs me in next time",
                        id="login-pin-label",
                    )
            else:
                with Horizontal(id="login-tls-row"):
                    yield Switch(
                        self._tls, id="login-tls", animate=False, disabled=self._server_fixed
                    )
                    yield Label(
                        "TLS: encrypted, the server's certificate verified", id="login-tls-label"
                    )
            # The reason comes from the server or the socket: shown as it is, never as markup.
            yield Static(self._error, id="login-error", markup=False)
            yield Static("Enter to connect · Esc to quit", id="login-help")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#login-nick", Input).focus()

    def show_error(self, text: str) -> None:
        """Show why the last attempt failed and put the cursor back in the nick field."""
        error = self.query_one("#login-error", Static)
        error.update(printable(text))
        error.set_class(True, "-error")
        nick = self.query_one("#login-nick", Input)
        nick.disabled = False
        self.query_one("#login-server", Input).disabled = self._server_fixed
        if "password" in text:
            # Wrong or missing: the password is what to fix (or the nick, one field up).
            self.query_one("#login-password", Input).focus()
        else:
            nick.focus()

    @property
    def tls(self) -> bool:
        """Whether the TLS switch is on (as given, where the pin switch stands in its place)."""
        if self._pin_offered:
            return self._tls
        return self.query_one("#login-tls", Switch).value

    @property
    def pin(self) -> bool:
        """Whether the nick is to be pinned to the visitor's SSH key."""
        return self._pin_offered and self.query_one("#login-pin", Switch).value

    def show_progress(self, text: str) -> None:
        error = self.query_one("#login-error", Static)
        error.update(text)
        error.set_class(False, "-error")

    @property
    def error_text(self) -> str:
        return str(self.query_one("#login-error", Static).content)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        nick_input = self.query_one("#login-nick", Input)
        server_input = self.query_one("#login-server", Input)
        password = self.query_one("#login-password", Input).value or None
        if event.input is nick_input and not server_input.value.strip():
            server_input.focus()
            return
        nick = nick_input.value.strip()
        if not is_valid_nick(nick):
            self.show_error("A nick is 1-24 letters, digits, _ or -, starting with a letter.")
            return
        server = parse_server(server_input.value)
        if server is None:
            self.show_error("The server is host:port, for example 127.0.0.1:7000.")
            server_input.focus()
            return
        how = " over TLS" if self.tls else ""
        self.show_progress(f"Connecting to {format_server(*server)}{how} as {nick}…")
        self.post_message(
            self.Submitted(nick, *server, tls=self.tls, password=password, pin=self.pin)
        )
