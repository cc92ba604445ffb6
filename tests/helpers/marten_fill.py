"""Marten-shaped tables (mt_streams, mt_events as Marten 7/8 creates them), filled in SQL.

The DDL follows JasperFx/marten src/Marten/Events/Schema/EventsTable.cs and StreamsTable.cs:
conjoined tenancy (tenant_id first in mt_streams' primary key), Guid stream identity, the
metadata columns correlation_id, causation_id, headers and user_name enabled, is_archived.

The fill is one INSERT ... SELECT over generate_series per table (fast: ~1 s for 120k events):
streams of three aggregate types (order, customer, payment) spread over three tenants, every
20th stream archived, nested jsonb objects and arrays in ``data``, plus a few rows Marten could
hold but eventlab cannot map (a JSON array as data, a binary payload in bdata).
"""

from __future__ import annotations

import psycopg

DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE {schema}.mt_streams (
    tenant_id varchar NOT NULL DEFAULT '*DEFAULT*', id {id_type} NOT NULL, type varchar NULL,
    version bigint NULL, timestamp timestamptz NOT NULL DEFAULT now(),
    created timestamptz NOT NULL DEFAULT now(), is_archived bool DEFAULT FALSE,
    CONSTRAINT pkey_mt_streams_tenant_id_id PRIMARY KEY ({stream_pk}));
CREATE SEQUENCE {schema}.mt_events_sequence;
CREATE TABLE {schema}.mt_events (
    seq_id bigint NOT NULL, id uuid NOT NULL, stream_id {id_type} NULL,
    version bigint NOT NULL, data jsonb NOT NULL, bdata bytea NULL, type varchar(500) NOT NULL,
    timestamp timestamptz NOT NULL DEFAULT (now()), tenant_id varchar NULL DEFAULT '*DEFAULT*',
    mt_dotnet_type varchar NULL, correlation_id varchar NULL, causation_id varchar NULL,
    headers jsonb NULL, user_name varchar NULL, is_archived bool NULL DEFAULT FALSE,
    CONSTRAINT pkey_mt_events_seq_id PRIMARY KEY (seq_id));
CREATE UNIQUE INDEX pk_mt_events_stream_and_version ON {schema}.mt_events
    ({event_key}, version);
"""

STREAMS = """
INSERT INTO {schema}.mt_streams (tenant_id, id, type, version, timestamp, created, is_archived)
SELECT (ARRAY['*DEFAULT*','acme','globex'])[1 + i % 3], {stream_id},
       (ARRAY['order','customer','payment'])[1 + (i / 3) % 3], {per_stream},
       timestamptz '2024-01-01 00:00:00+00', timestamptz '2024-01-01 00:00:00+00', i % 20 = 0
FROM generate_series(0, {streams} - 1) AS i;
"""

EVENTS = """
INSERT INTO {schema}.mt_events (seq_id, id, stream_id, version, data, type, timestamp,
    tenant_id, mt_dotnet_type, correlation_id, causation_id, headers, user_name, is_archived)
SELECT seq, md5('event-' || seq)::uuid, {stream_id}, v,
  CASE agg
    WHEN 'order' THEN CASE WHEN v = 1 THEN jsonb_build_object(
        'OrderNumber', 'ORD-' || i, 'Customer', jsonb_build_object('Name', 'customer ' || (i % 97),
            'Address', jsonb_build_object('City', (ARRAY['Oslo','Lyon','Porto'])[1 + i % 3],
                                          'Zip', lpad((i % 10000)::text, 5, '0'))),
        'Lines', jsonb_build_array(jsonb_build_object('Sku', 'SKU-' || (i % 50), 'Qty', 1 + i % 4),
                                   jsonb_build_object('Sku', 'SKU-' || (i % 7), 'Qty', 2)),
        'Tags', jsonb_build_array('web', CASE WHEN i % 2 = 0 THEN 'promo' ELSE 'regular' END),
        'Total', round((i % 1000) * 1.25, 2))
      WHEN v = {per_stream} THEN jsonb_build_object('Carrier', 'DHL', 'Parcels',
        jsonb_build_array(i, i + 1))
      ELSE jsonb_build_object('Note', 'step ' || v, 'Priority', v) END
    WHEN 'customer' THEN CASE WHEN v = 1 THEN jsonb_build_object('Name', 'customer ' || i,
        'Email', 'c' || i || '@example.org', 'Tier', (ARRAY['gold','silver'])[1 + i % 2])
      ELSE jsonb_build_object('Address', jsonb_build_object('City', 'City ' || v,
        'Lines', jsonb_build_array('Street ' || v))) END
    ELSE jsonb_build_object('Amount', (i % 500) + v * 0.5, 'Currency', 'EUR',
        'Method', jsonb_build_object('Kind', 'card', 'Last4', lpad((i % 9999)::text, 4, '0')))
  END,
  CASE agg
    WHEN 'order' THEN CASE WHEN v = 1 THEN 'order_placed' WHEN v = {per_stream}
                           THEN 'order_shipped' ELSE 'order_updated' END
    WHEN 'customer' THEN CASE WHEN v = 1 THEN 'customer_registered' ELSE 'customer_moved' END
    ELSE 'payment_received' END,
  timestamptz '2024-01-01 00:00:00+00' + seq * interval '1 second',
  (ARRAY['*DEFAULT*','acme','globex'])[1 + i % 3],
  'Shop.Events.' || agg || ', Shop', 'corr-' || i, CASE WHEN v > 1 THEN 'cause-' || (seq - 1) END,
  jsonb_build_object('source', 'api', 'attempt', v), 'user' || (i % 13), i % 20 = 0
FROM (SELECT s.seq, s.i, s.v, (ARRAY['order','customer','payment'])[1 + (s.i / 3) % 3] AS agg
      FROM (SELECT g + {offset} AS seq, (g - 1) % {streams} AS i, (g - 1) / {streams} + 1 AS v
            FROM generate_series({first}, {last}) AS g) AS s) AS e;
"""

ID_EXPR = {"uuid": "md5('stream-' || i)::uuid", "varchar": "'stream-' || i"}


def create(conn: psycopg.Connection, schema: str = "public", conjoined: bool = True,
           id_type: str = "uuid") -> None:
    conn.execute(DDL.format(
        schema=schema, id_type=id_type,
        stream_pk="tenant_id, id" if conjoined else "id",
        event_key="tenant_id, stream_id" if conjoined else "stream_id"))


def fill(conn: psycopg.Connection, *, streams: int, per_stream: int, schema: str = "public",
         first_version: int = 1, last_version: int | None = None, id_type: str = "uuid",
         seq_offset: int = 0) -> int:
    """Insert streams x per_stream events (versions first_version..last_version of each
    stream, seq ids interleaving the streams); return the number of events inserted."""
    last_version = last_version or per_stream
    stream_id = ID_EXPR[id_type]
    if first_version == 1:
        conn.execute(STREAMS.format(schema=schema, stream_id=stream_id, streams=streams,
                                    per_stream=per_stream))
    first = (first_version - 1) * streams + 1
    last = last_version * streams
    conn.execute(EVENTS.format(schema=schema, stream_id=stream_id,
                               streams=streams, per_stream=per_stream, first=first, last=last,
                               offset=seq_offset))
    return last - first + 1


def add_unmappable(conn: psycopg.Connection, schema: str = "public") -> list[int]:
    """Three rows Marten can hold but eventlab cannot map; returns their seq ids."""
    top = conn.execute(f"SELECT max(seq_id) FROM {schema}.mt_events").fetchone()[0]
    rows = [(top + 1, "'[1, 2]'::jsonb", "NULL"), (top + 2, "'{}'::jsonb", "'\\x0102'::bytea"),
            (top + 3, "'\"text\"'::jsonb", "NULL")]
    for seq, data, bdata in rows:
        conn.execute(
            f"INSERT INTO {schema}.mt_events (seq_id, id, stream_id, version, data, bdata, type,"
            f" timestamp, tenant_id) VALUES ({seq}, md5('bad-{seq}')::uuid, NULL, {seq}, "
            f"{data}, {bdata}, 'odd_event', timestamptz '2024-06-01 00:00:00+00', '*DEFAULT*')")
    return [r[0] for r in rows]
