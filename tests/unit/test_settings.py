"""Configuration: checked values with the variable's name in the error, secrets never shown,
the database URL handed to psycopg unchanged, .env support, and the README's table."""

from __future__ import annotations

from pathlib import Path

import pytest

from creator_ledger import InvalidInputError, Settings
from creator_ledger.ledger.settings import redact_url, settings_table

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "STRIPE_SECRET_KEY": "sk_test_SECRETKEY123456789",
    "STRIPE_WEBHOOK_SECRET": "whsec_SECRETHOOK987654321",
    "LEDGER_DATABASE_URL": "postgresql://ledger:PASSWORD-S3CRET@db.example.com:5432/ledger",
}


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("LEDGER_POSTGRES_POOL_SIZE", "abc", "valid integer"),
        ("LEDGER_POSTGRES_POOL_SIZE", "0", "greater than or equal to 1"),
        ("LEDGER_PAYOUT_THRESHOLDS", "USD=ten", "CUR=minor_units"),
        ("LEDGER_PAYOUT_THRESHOLDS", "XYZ=10", "unknown currency"),
        ("LEDGER_PAYOUT_APPROVERS", "3", "less than or equal to 2"),
        ("LEDGER_PAYOUT_APPROVERS_ABOVE", "USD=100:5", "0, 1 or 2 approvers"),
        ("LEDGER_PAYMENT_PROVIDER", "paypal", "stripe"),
        ("LEDGER_DATABASE_URL", "mysql://root@localhost/x", "unsupported database URL"),
        ("LEDGER_POSTGRES_SCHEMA", "Robert'); DROP", "schema name"),
        ("LEDGER_CONNECT_TIMEOUT_S", "-1", "greater than 0"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(InvalidInputError, match=says) as refused:
        Settings.from_env({variable: value})
    assert variable in str(refused.value)


def test_secrets_are_never_shown() -> None:
    settings = Settings.from_env(SECRETS)
    shown = [repr(settings), str(settings), settings.safe_database_url()]
    for text in shown:
        for secret in ("SECRETKEY", "SECRETHOOK", "PASSWORD-S3CRET"):
            assert secret not in text
    assert settings.stripe_secret_key is not None
    assert settings.stripe_secret_key.get_secret_value() == SECRETS["STRIPE_SECRET_KEY"]
    assert settings.safe_database_url() == "postgresql://ledger:***@db.example.com:5432/ledger"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://ledger:PASSWORD-S3CRET@db/ledger",
        "postgress://ledger:PASSWORD-S3CRET@db/ledger",
        "ledger:PASSWORD-S3CRET@db/ledger",
    ],
)
def test_an_unsupported_url_is_refused_without_its_password(url: str) -> None:
    with pytest.raises(InvalidInputError, match="unsupported database URL") as refused:
        Settings.from_env({"LEDGER_DATABASE_URL": url})
    assert "PASSWORD-S3CRET" not in str(refused.value)
    assert "PASSWORD-S3CRET" not in repr(refused.value.to_dict())


def test_the_database_url_goes_to_psycopg_unchanged_with_its_options() -> None:
    url = "postgresql://ledger@db.example.com/ledger?sslmode=require&application_name=payouts"
    settings = Settings.from_env({"LEDGER_DATABASE_URL": url})
    assert settings.postgres_conninfo() == url
    assert settings.postgres_options() == {"sslmode": "require", "application_name": "payouts"}


def test_explicit_settings_read_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_POSTGRES_POOL_SIZE", "17")
    assert Settings(database_url="memory://").postgres_pool_size == 5
    assert Settings.from_env().postgres_pool_size == 17


def test_a_dot_env_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("LEDGER_POSTGRES_POOL_SIZE=9\nLEDGER_PAYOUT_APPROVERS=2\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEDGER_POSTGRES_POOL_SIZE", raising=False)
    settings = Settings.from_env()
    assert (settings.postgres_pool_size, settings.payout_approvers) == (9, 2)


def test_approvers_grow_above_a_run_total() -> None:
    settings = Settings.from_env({"LEDGER_PAYOUT_APPROVERS_ABOVE": "USD=1000000:2"})
    assert settings.approvers_for("USD", 1_000_000) == 1
    assert settings.approvers_for("USD", 1_000_001) == 2
    assert settings.approvers_for("EUR", 10**12) == 1


def test_redaction_also_masks_a_url_that_does_not_parse() -> None:
    assert "hunter2" not in redact_url("postgresql://a:hunter2@[bad/x")


def test_the_readme_table_is_generated_from_the_settings_class() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- settings-table")
    end = readme.index("<!-- /settings-table -->")
    table = readme[readme.index("\n", start) : end].strip()
    assert table == settings_table()


def test_every_postgres_connection_gets_the_schema_and_the_connect_timeout() -> None:
    settings = Settings(
        database_url="postgresql://u@db/ledger?sslmode=require&options=-c%20statement_timeout%3D5s",
        postgres_schema="ledger_ops",
        connect_timeout_s=2.5,
    )
    options = settings.postgres_session_options()
    assert options["sslmode"] == "require"
    assert options["options"] == "-c statement_timeout=5s -c search_path=ledger_ops"
    assert options["connect_timeout"] == "3"  # whole seconds, rounded up
    assert settings.eventsourcing_env()["POSTGRES_SCHEMA"] == "ledger_ops"
    assert settings.eventsourcing_env()["POSTGRES_CONNECT_TIMEOUT"] == "3"
    explicit = Settings(database_url="postgresql://u@db/ledger?connect_timeout=9")
    assert explicit.postgres_session_options()["connect_timeout"] == "9"  # the URL's own wins
