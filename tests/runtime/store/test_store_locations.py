"""The ``db`` setting (issue 16): a SQLite path or a PostgreSQL URL, from every configuration layer; the
password masked wherever the location is printed, serialised or named in an error."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.config import OrchestratorSettings
from runtime.errors import RuntimeConfigError
from runtime.store.database import Database
from runtime.store.locations import PostgresLocation, mask_url_password, parse_location

#: Passwords unlike any other part of the URLs below, so "not in the text" cannot pass by accident.
passwords = st.text(st.characters(categories=("L", "N")), min_size=1, max_size=20).map(lambda s: f"Zq9{s}")


@given(password=passwords)
def test_a_location_never_prints_or_serialises_its_password(password: str) -> None:
    location = PostgresLocation.parse(f"postgresql://orch:{password}@db.internal:5433/queue")
    settings = OrchestratorSettings(db=location)
    shown = [str(location), repr(location), repr(settings), settings.model_dump_json(),
             str(settings.model_dump()), Database.at(location).name]
    assert all(password not in text for text in shown)
    assert str(location) == "postgresql://orch:***@db.internal:5433/queue"
    assert location.password == password and location.url.password == password
    assert location.redact(f"driver said: {password} was wrong") == "driver said: *** was wrong"


@given(password=passwords)
def test_a_url_that_does_not_parse_is_refused_without_its_password(password: str) -> None:
    for bad in (f"postgresql://orch:{password}@host:notaport/queue", f"postgresql://orch:{password}@host:70000/q",
                f"postgresql://orch:{password}@host", f"mysql://orch:{password}@host/q",
                f"postgresql+psycopg://orch:{password}@host/q"):
        with pytest.raises(ValueError) as refused:
            parse_location(bad)
        assert password not in str(refused.value) and "***" in str(refused.value)
    assert mask_url_password(f"x postgresql://u:{password}@h/d y") == "x postgresql://u:***@h/d y"


def test_paths_stay_sqlite_files_and_urls_select_postgresql() -> None:
    assert parse_location("orchestrator.db") == Path("orchestrator.db")
    assert parse_location("/var/lib/orch/o.db") == Path("/var/lib/orch/o.db")
    for scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        location = parse_location(f"{scheme}://orch@127.0.0.1:5432/queue")
        assert isinstance(location, PostgresLocation)
        assert location.url.drivername == "postgresql+asyncpg" and location.password is None
        assert not Database.at(location).is_sqlite
    assert Database.at(Path("o.db")).is_sqlite


def test_every_configuration_layer_accepts_a_postgresql_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://orch@127.0.0.1:5432/queue"
    assert OrchestratorSettings.load(db=url).db == PostgresLocation.parse(url)
    config = tmp_path / "orch.toml"
    config.write_text(f'db = "{url}"\n', encoding="utf-8")
    assert OrchestratorSettings.load(config).db == PostgresLocation.parse(url)
    monkeypatch.setenv("ORCH_DB", url.replace("/queue", "/from_env"))
    assert str(OrchestratorSettings.load(config).db).endswith("/from_env")
    assert OrchestratorSettings.load(config, db="local.db").db == Path("local.db")  # flags win


def test_a_bad_url_in_the_configuration_names_the_field_and_masks_the_password() -> None:
    with pytest.raises(RuntimeConfigError, match=r"field 'db'.*unsupported database URL scheme 'mysql'") as refused:
        OrchestratorSettings.load(db="mysql://orch:hunter2@host/q")
    assert "hunter2" not in str(refused.value)
