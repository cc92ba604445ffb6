"""Postgres for the database sources: URLs without credentials, columnar reads into Polars.

``engine="adbc"`` reads a query's result as Arrow through the ADBC PostgreSQL driver (libpq's
binary COPY, no per-row Python), ``"connectorx"`` through connectorx, ``"psycopg"`` row by row
through psycopg (the fallback and the benchmark's baseline); ``"auto"`` takes the first
installed. Every query selects plain types (text, bigint, boolean, timestamptz), so the three
engines give the same frame.

Credentials stay in the URL the caller holds: :attr:`PgUrl.name` and :attr:`PgUrl.location`
have no user or password, and :func:`redact` removes them from driver messages before an error
is raised.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import polars as pl

from eventlab.errors import InvalidArgumentError, SourceConnectionError, require

ENGINES = ("auto", "adbc", "connectorx", "psycopg")
SCHEMES = ("postgresql", "postgres")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


@dataclass(frozen=True)
class PgUrl:
    """A ``postgresql://`` URL; ``url`` (with credentials) is only handed to the driver."""

    url: str

    @classmethod
    def parse(cls, url: str) -> PgUrl:
        if urlsplit(url).scheme not in SCHEMES:
            raise InvalidArgumentError("source", redact(url, url), "a Postgres source is a "
                                       "postgresql://host:port/database URL")
        return cls(url)

    @property
    def password(self) -> str | None:
        parts = urlsplit(self.url)
        found = parts.password or parse_qs(parts.query).get("password", [None])[0]
        return unquote(found) if found else None

    @property
    def location(self) -> str:
        """``host:port/database`` (a socket folder for the host when given in the query)."""
        parts = urlsplit(self.url)
        query = parse_qs(parts.query)
        host = parts.hostname or query.get("host", ["localhost"])[0]
        port = parts.port or int(query.get("port", ["5432"])[0])
        database = parts.path.lstrip("/") or query.get("dbname", [""])[0]
        return f"{host}:{port}/{database}"

    @property
    def name(self) -> str:
        """The URL as reports show it: no user, no password, no options."""
        return f"postgresql://{self.location}"


def redact(text: str, url: str) -> str:
    """``text`` without the URL's password (plain or percent-encoded) and user info."""
    parts = urlsplit(url)
    secrets = {s for s in (parts.password, unquote(parts.password or "")) if s}
    secrets |= {unquote(v) for v in parse_qs(parts.query).get("password", [])}
    if parts.netloc and "@" in parts.netloc:
        text = text.replace(parts.netloc.rpartition("@")[0] + "@", "")
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def identifier(value: str, what: str) -> str:
    """A schema or table name, checked and double-quoted for SQL."""
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        raise InvalidArgumentError(what, value, "a Postgres identifier: letters, digits, _ "
                                   "or $, starting with a letter or _ (at most 63)")
    return f'"{value}"'


def pick_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise InvalidArgumentError("engine", engine, f"one of {', '.join(ENGINES)}")
    if engine != "auto":
        return engine
    for name, module in (("adbc", "adbc_driver_postgresql"), ("connectorx", "connectorx")):
        if importlib.util.find_spec(module) is not None:
            return name
    return "psycopg"


def read_query(url: PgUrl, sql: str, schema: Mapping[str, pl.DataType], *,
               engine: str = "auto") -> pl.DataFrame:
    """Run ``sql`` (no parameters: callers inline checked identifiers and integers) and return
    its rows as a frame with ``schema``."""
    chosen = pick_engine(engine)
    try:
        if chosen == "adbc":
            frame = _adbc(url.url, sql)
        elif chosen == "connectorx":
            require("connectorx", "postgres")
            frame = pl.read_database_uri(sql, url.url, engine="connectorx")
        else:
            frame = _psycopg(url.url, sql, list(schema))
    except Exception as exc:
        if isinstance(exc, SourceConnectionError | InvalidArgumentError) or (
                type(exc).__name__ == "OptionalDependencyError"):
            raise
        message = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else
                         type(exc).__name__, url.url)
        raise SourceConnectionError(
            f"cannot read {url.name} ({chosen}): {message}. Hint: check that the server runs, "
            "the database, user and password are right, and the tables exist."
        ) from None
    return _typed(frame, schema)


def _adbc(url: str, sql: str) -> pl.DataFrame:
    dbapi = require("adbc_driver_postgresql.dbapi", "postgres")
    with dbapi.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        table = cursor.fetch_arrow_table()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _psycopg(url: str, sql: str, names: list[str]) -> pl.DataFrame:
    psycopg = require("psycopg", "postgres")
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        rows = cursor.fetchall()
        columns = [d.name for d in cursor.description] if cursor.description else names
    return pl.DataFrame(rows, schema=columns, orient="row", infer_schema_length=None)


def _typed(frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """The frame in ``schema``'s column order and dtypes (an empty result typed too)."""
    out = []
    for name, dtype in schema.items():
        column = frame[name] if name in frame.columns else pl.Series(name, [None] * frame.height)
        if isinstance(dtype, pl.Datetime) and isinstance(column.dtype, pl.Datetime):
            column = (column.dt.replace_time_zone("UTC") if column.dtype.time_zone is None
                      else column.dt.convert_time_zone("UTC")).dt.cast_time_unit("us")
        out.append(column.cast(dtype))
    return pl.DataFrame(out) if out else frame
