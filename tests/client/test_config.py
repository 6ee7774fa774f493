"""The client's remembered settings: where they live, round trips, and damaged files."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from app.client.config import CONFIG_DIR_ENV, CONFIG_FILE, ClientConfig, ConfigStore, config_dir


def test_config_dir_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PARLEY_CONFIG_DIR decides where the config file is; without it, platformdirs does."""
    monkeypatch.setenv(CONFIG_DIR_ENV, str(tmp_path / "elsewhere"))
    assert ConfigStore.default().path == tmp_path / "elsewhere" / CONFIG_FILE
    monkeypatch.delenv(CONFIG_DIR_ENV)
    assert config_dir() == Path(platformdirs.user_config_dir("parley"))


def test_remember_and_load_round_trip(store: ConfigStore) -> None:
    """Rooms are remembered per server, without duplicates by case, with the last nick."""
    store.remember(host="h", port=1, nick="alice", rooms=["#general", "#rust", "#Rust"])
    store.remember(host="other", port=2, nick="alice2", rooms=["#general", "#go"])
    config = store.load()
    assert config.nick == "alice2"
    assert (config.host, config.port) == ("other", 2)
    assert config.rooms_for("h:1") == ["#general", "#Rust"]
    assert config.rooms_for("other:2") == ["#general", "#go"]
    assert config.rooms_for("nowhere:3") == []


def test_missing_or_damaged_file_is_an_empty_config(store: ConfigStore) -> None:
    """A missing or unreadable config never stops the client; bad room names are skipped."""
    assert store.load() == ClientConfig()
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{not json")
    assert store.load() == ClientConfig()
    store.path.write_text('{"rooms": {"h:1": ["#ok", "bad room"]}}')
    assert store.load().rooms_for("h:1") == ["#ok"]


def test_save_replaces_the_file_whole(store: ConfigStore) -> None:
    """Saving leaves exactly one complete file, no temporary files behind."""
    store.save(ClientConfig(nick="alice"))
    store.save(ClientConfig(nick="bob"))
    assert store.load().nick == "bob"
    assert [p.name for p in store.path.parent.iterdir()] == [CONFIG_FILE]
