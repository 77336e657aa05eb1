"""The configuration file as an admin writes it."""

import pytest

from ingest.config import ConfigError, load_config, parse_config, read_secret
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_example_config_documents_every_setting_and_loads():
    config = load_config(str(ROOT / "config.example.toml"))
    assert config.mailboxes[0].processed_folder == "Processed"
    assert config.desk.daily_reply_limit == 10 and config.engineers[0].address == "xiaoming@example.cn"
    text = (ROOT / "config.example.toml").read_text("utf-8")
    from ingest.config import DeskSettings, MailboxSettings, OutgoingSettings
    for cls in (DeskSettings, MailboxSettings, OutgoingSettings):
        for name in cls.__dataclass_fields__:
            if name != "own_addresses":
                assert name in text, f"{cls.__name__}.{name} is not documented in config.example.toml"


def test_inline_password_is_refused_with_a_clear_error():
    with pytest.raises(ConfigError, match="inline `password` is not allowed"):
        parse_config('[[mailbox]]\nname = "x"\npassword = "secret"\n')


def test_unknown_key_and_bad_toml_name_the_problem():
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config("[desk]\ndaily_limit = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("[desk\n")


def test_secrets_from_env_or_file(tmp_path, monkeypatch):
    monkeypatch.setenv("GD_SECRET", "s3")
    assert read_secret("GD_SECRET", "", "x") == "s3"
    (tmp_path / "pw").write_text("from-file\n")
    assert read_secret("", str(tmp_path / "pw"), "x") == "from-file"
    with pytest.raises(ConfigError, match="GD_MISSING is not set"):
        read_secret("GD_MISSING", "", "mailbox support")


def test_relative_paths_follow_the_config_file(tmp_path):
    (tmp_path / "g.toml").write_text('[database]\nurl = "sqlite:///g.db"\n[[mailbox]]\nkind = "maildir"\npath = "in"\n')
    config = load_config(str(tmp_path / "g.toml"))
    assert config.database_url == f"sqlite:///{tmp_path}/g.db"
    assert config.mailboxes[0].path == str(tmp_path / "in")
