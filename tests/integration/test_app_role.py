"""The production PostgreSQL roles: an owner runs ``migrate --app-role NAME``; the application
role it names runs the whole ledger, and cannot change a stored event by any means.

Roles are cluster-wide: each test makes its own (``cl_pgw_app_<pid>_<n>``) and drops it."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from creator_ledger import CreatorLedger, InvalidInputError, Settings
from creator_ledger.adapters.eventstore import APP_ROLE_GRANTS, EventStore
from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.catalog import AGGREGATES, SNAPSHOT_INTERVALS
from creator_ledger.ledger.migrate import (
    APP_READ_ONLY_TABLES,
    APP_READ_WRITE_TABLES,
    OWNER_ONLY_TABLES,
    grant_app_role,
)
from tests import scenario
from tests.conftest import Clock, pg_admin, pg_url
from tests.integration.test_event_store import busy_book

pytestmark = pytest.mark.postgres
_roles = itertools.count()
FINGERPRINT = (
    "SELECT count(*), md5(string_agg(originator_id::text || originator_version || topic"
    " || encode(state, 'hex') || notification_id, ',' ORDER BY notification_id))"
    " FROM ledger_events"
)


@dataclass(frozen=True)
class Roles:
    owner_url: str
    app_url: str
    app: str


def as_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    return subprocess.run(
        [sys.executable, "-m", "creator_ledger", *args, "--database", url],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


@pytest.fixture
def new_role(pg_database: str) -> Iterator[str]:
    """A login role of this test alone (no privileges yet); dropped with what it was granted."""
    name = f"cl_pgw_app_{os.getpid()}_{next(_roles)}"
    with pg_admin() as admin:
        admin.execute(f'DROP ROLE IF EXISTS "{name}"')
        admin.execute(f'CREATE ROLE "{name}" LOGIN')
    yield name
    dbname = urlsplit(pg_database).path.lstrip("/")
    with pg_admin() as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,)
        )
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f'DROP OWNED BY "{name}"')  # its privileges in the test's database
    with pg_admin() as admin:
        admin.execute(f'DROP ROLE IF EXISTS "{name}"')
    assert dbname


@pytest.fixture
def roles(pg_database: str, new_role: str) -> Roles:
    """The owner migrated (already) and granted the application role, through the CLI."""
    done = cli(pg_database, "migrate", "--app-role", new_role)
    assert done.returncode == 0, done.stderr
    assert f"granted {new_role}" in done.stdout
    return Roles(pg_database, as_role(pg_database, new_role), new_role)


def fingerprint(owner_url: str) -> tuple[object, ...]:
    with psycopg.connect(owner_url) as conn:
        row = conn.execute(FINGERPRINT).fetchone()
    assert row is not None
    return tuple(row)


def test_the_whole_ledger_runs_as_the_application_role(roles: Roles) -> None:
    settings = Settings(database_url=roles.app_url)
    provider = InMemoryProvider()
    with CreatorLedger.open(settings, clock=Clock()) as cl:
        scenario.fund(cl)
        refs = scenario.creators(cl, 3, payout_ready=True)
        [day] = scenario.pool_program(cl)
        scenario.usage(cl, "pool", day, [(r, "v", 1_000 * (i + 1)) for i, r in enumerate(refs)])
        scenario.close(cl, "pool", day)
        result = scenario.pay(cl, provider)
        assert result.paid == 3
        assert cl.balances(refs[2]).balances[0].payable_minor == 0
        assert cl.reconcile_internal().clean
    # The event store's own paths as the role: snapshots (a book crossing its interval).
    store = EventStore(
        settings.eventsourcing_env(), aggregates=AGGREGATES, snapshot_intervals=SNAPSHOT_INTERVALS
    )
    try:
        book = busy_book(9, 120)
        store.save(book)
        store.forget([book.id])
        loaded = store.get(AccountBook.create_id(9))
        assert loaded is not None
        assert loaded.version == 120
    finally:
        store.close()
    with psycopg.connect(roles.owner_url) as conn:
        snapshots = conn.execute(
            "SELECT originator_version FROM ledger_snapshots WHERE originator_id = %s",
            (book.id,),
        ).fetchall()
    assert snapshots == [(120,)]  # written by the role, through the library
    # Reads, a rebuild and the worker, from the command line as the role.
    balances = cli(roles.app_url, "balances", refs[0], "--json")
    assert balances.returncode == 0, balances.stderr
    assert json.loads(balances.stdout)["balances"][0]["payable_minor"] == 0
    for args in (
        ("trial-balance",),
        ("reconcile", "internal"),
        ("projections", "rebuild"),
        ("worker", "--once"),
        ("audit",),
    ):
        done = cli(roles.app_url, *args)
        assert done.returncode == 0, (args, done.stderr)
    refused = cli(roles.app_url, "migrate")
    assert refused.returncode == 2
    assert "run migrate as the owner role" in refused.stderr


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_events SET state = 'x'::bytea",
        "DELETE FROM ledger_events",
        "TRUNCATE ledger_events",
        "ALTER TABLE ledger_events DISABLE TRIGGER ALL",
        "ALTER TABLE ledger_events DISABLE TRIGGER ledger_events_no_update_or_delete",
        "DROP TRIGGER ledger_events_no_update_or_delete ON ledger_events",
        "SET session_replication_role = replica",
        "INSERT INTO ledger_events (originator_id, originator_version, topic, state)"
        " VALUES (gen_random_uuid(), 1, 'creator-ledger/Creator.Enrolled', '{}'::bytea)",
        "LOCK TABLE ledger_events IN EXCLUSIVE MODE",
        "DROP TABLE ledger_events",
        "ALTER TABLE ledger_events RENAME TO ledger_events_old",
        "CREATE TABLE ledger_events_shadow (id int)",
        "CREATE FUNCTION ledger_fake() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE OR REPLACE FUNCTION ledger_append_events(uuid[], bigint[], text[], bytea[])"
        " RETURNS SETOF bigint LANGUAGE sql AS 'SELECT 1::bigint'",
        "ALTER FUNCTION ledger_append_events(uuid[], bigint[], text[], bytea[]) SECURITY INVOKER",
        "SELECT setval('ledger_events_notification_id_seq', 1)",
        "UPDATE ledger_snapshots SET state = 'x'::bytea",
        "DELETE FROM ledger_snapshots",
        "ALTER TABLE ledger_events OWNER TO CURRENT_USER",
    ],
)
def test_the_application_role_cannot_change_a_stored_event(roles: Roles, statement: str) -> None:
    with CreatorLedger.open(Settings(database_url=roles.app_url), clock=Clock()) as cl:
        scenario.fund(cl)
        scenario.creators(cl, 2)
    before = fingerprint(roles.owner_url)
    assert before[0] > 0
    with psycopg.connect(roles.app_url) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)
        conn.rollback()
    assert fingerprint(roles.owner_url) == before
    with psycopg.connect(roles.owner_url) as conn:  # the triggers are still on
        triggers = conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'ledger_events'::regclass"
            " AND NOT tgisinternal AND tgenabled = 'O' ORDER BY tgname"
        ).fetchall()
    assert [t[0] for t in triggers] == [
        "ledger_events_no_truncate",
        "ledger_events_no_update_or_delete",
        "ledger_events_sealed",
    ]


def test_the_append_function_itself_cannot_be_turned_against_the_events(roles: Roles) -> None:
    """All the role can do with the function is append new versions: an existing version is a
    conflict, nothing overwritten."""
    with CreatorLedger.open(Settings(database_url=roles.app_url), clock=Clock()) as cl:
        scenario.fund(cl)
    before = fingerprint(roles.owner_url)
    with psycopg.connect(roles.app_url) as conn:
        row = conn.execute(
            "SELECT originator_id, originator_version FROM ledger_events LIMIT 1"
        ).fetchone()
        assert row is not None
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "SELECT ledger_append_events(%s, %s, %s, %s)",
                ([row[0]], [row[1]], ["creator-ledger/CreatorFund.Created"], [b"{}"]),
            )
    assert fingerprint(roles.owner_url) == before


def test_every_table_is_granted_on_purpose(roles: Roles) -> None:
    """Each table in the schema is in exactly one of migrate's lists or the event store's
    grants, and the role has exactly those privileges (nothing on the others)."""
    event_store = {name: grants for kind, name, grants in APP_ROLE_GRANTS if kind == "TABLE"}
    listed = [*event_store, *APP_READ_ONLY_TABLES, *APP_READ_WRITE_TABLES, *OWNER_ONLY_TABLES]
    assert len(listed) == len(set(listed))
    expected = {
        **{t: {p.strip() for p in ps.split(",")} for t, ps in event_store.items()},
        **{t: {"SELECT"} for t in APP_READ_ONLY_TABLES},
        **{t: {"SELECT", "INSERT", "UPDATE", "DELETE"} for t in APP_READ_WRITE_TABLES},
        **{t: set() for t in OWNER_ONLY_TABLES},
    }
    with psycopg.connect(roles.owner_url) as conn:
        tables = {
            str(r[0])
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            ).fetchall()
        }
        granted: dict[str, set[str]] = {t: set() for t in tables}
        for table, privilege in conn.execute(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants"
            " WHERE grantee = %s AND table_schema = current_schema()",
            (roles.app,),
        ).fetchall():
            granted[str(table)].add(str(privilege))
        functions = conn.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = current_schema() AND has_function_privilege(%s, p.oid, 'EXECUTE')"
            " AND NOT has_function_privilege('public', p.oid, 'EXECUTE') ORDER BY 1",
            (roles.app,),
        ).fetchall()
        schema = conn.execute(
            "SELECT has_schema_privilege(%s, current_schema(), 'USAGE'),"
            " has_schema_privilege(%s, current_schema(), 'CREATE')",
            (roles.app, roles.app),
        ).fetchone()
    assert tables == set(expected), "a table of the migrations is not in migrate's lists"
    assert granted == expected
    assert [f[0] for f in functions] == ["ledger_append_events", "ledger_load_aggregates"]
    assert schema == (True, False)


def test_granting_is_idempotent_and_takes_back_what_the_role_should_not_have(
    roles: Roles,
) -> None:
    with psycopg.connect(roles.owner_url, autocommit=True) as conn:
        conn.execute(f'GRANT UPDATE, TRUNCATE ON ledger_events TO "{roles.app}"')
    grant_app_role(Settings(database_url=roles.owner_url), roles.app)
    with (
        psycopg.connect(roles.app_url) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("TRUNCATE ledger_events")


def test_an_app_role_that_would_keep_the_owners_rights_is_refused(
    pg_database: str, new_role: str
) -> None:
    settings = Settings(database_url=pg_database)
    missing = cli(pg_database, "migrate", "--app-role", "cl_pgw_no_such_role")
    assert missing.returncode == 2
    assert "does not exist: create it first" in missing.stderr
    with pg_admin() as admin:
        admin.execute(f'GRANT postgres TO "{new_role}"')  # a member of the owner
    with pytest.raises(InvalidInputError, match="member of the owner"):
        grant_app_role(settings, new_role)
    with pytest.raises(InvalidInputError, match=r"is a superuser|is the owner"):
        grant_app_role(settings, "postgres")
    bad = cli(pg_database, "migrate", "--app-role", "Robert'); DROP TABLE x;--")
    assert bad.returncode == 2
    assert "LEDGER_APP_ROLE" in bad.stderr


def test_the_application_role_in_a_schema_of_its_own(pg_template: str) -> None:
    """With ``LEDGER_POSTGRES_SCHEMA`` the grants, and the append function, are in that schema."""
    schema = "creator_ops"
    dbname = f"{pg_template}_approle_{os.getpid()}"
    role = f"cl_pgw_app_{os.getpid()}_{next(_roles)}"
    with pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{dbname}"')
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
    owner_url = pg_url(dbname)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        env |= {"LEDGER_POSTGRES_SCHEMA": schema, "LEDGER_APP_ROLE": role}
        done = subprocess.run(
            [sys.executable, "-m", "creator_ledger", "migrate", "--database", owner_url],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert f"granted {role}: usage on schema {schema}" in done.stdout
        settings = Settings(database_url=as_role(owner_url, role), postgres_schema=schema)
        with CreatorLedger.open(settings, clock=Clock()) as cl:
            scenario.fund(cl)
            refs = scenario.creators(cl, 2)
            assert cl.balances(refs[0]).creator_ref == refs[0]
        with psycopg.connect(as_role(owner_url, role)) as conn:
            for statement in (
                f"CREATE TABLE {schema}.shadow (id int)",
                "CREATE TABLE public.shadow (id int)",
                f"TRUNCATE {schema}.ledger_events",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
                conn.rollback()
    finally:
        with pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')
