"""Many rows into one table in one ``executemany``, with the columns' own conversions; and
ways of writing many rows in one statement of a few parameters (PostgreSQL's arrays,
SQLite's JSON).

``conn.execute(insert(table), rows)`` builds and processes a parameter dictionary per row
inside SQLAlchemy; for a bulk import that was a third of the time spent writing. Here each
value goes through its column type's bind processor for this dialect (the same conversion
SQLAlchemy applies: UTC text on SQLite, JSON text, ...) and the driver gets plain tuples or
dictionaries in one ``executemany``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import (
    ARRAY,
    Column,
    Connection,
    Subquery,
    Table,
    TableValuedAlias,
    Text,
    bindparam,
    func,
    insert,
    select,
    type_coerce,
)
from sqlalchemy import column as column_of
from sqlalchemy.engine import Dialect


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (each with the same keys, which name columns of ``table``)."""
    if not rows:
        return
    dialect = conn.dialect
    # inline(): no RETURNING of generated keys (PostgreSQL would add one for the primary key).
    compiled = insert(table).inline().compile(dialect=dialect, column_keys=list(rows[0]))
    names = list(compiled.positiontup or ()) if compiled.positional else list(rows[0])
    # Column by column, so that each conversion runs in one tight loop; then zipped to rows.
    columns: list[list[Any]] = []
    for name in names:
        values = [row[name] for row in rows]
        convert = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        columns.append(values if convert is None else list(map(convert, values)))
    tuples = zip(*columns, strict=True)
    params: list[Any] = (
        list(tuples) if compiled.positional else [dict(zip(names, t, strict=True)) for t in tuples]
    )
    conn.exec_driver_sql(str(compiled), params)


def unnest_rows(*columns: Column[Any], name: str = "v") -> TableValuedAlias:
    """PostgreSQL: rows given column by column, ``unnest(:b_id, :b_acked, ...) AS v(id, acked,
    ...)``: one array parameter per column, bound as ``b_`` and the column's name and typed as
    an array of the column's own type (so each value gets its column's conversion).

    For writing a batch of rows in one statement: psycopg runs an ``executemany`` as one
    statement per row, its parameters converted row by row, and a statement of more than 50
    parameters (an ``IN`` list or a ``VALUES`` list of a batch) is parsed anew by psycopg every
    time and never prepared. A few arrays are the same statement text whatever the batch's
    size: parsed once, and prepared by the server after a few runs."""
    return (
        func.unnest(*(bindparam(f"b_{c.name}", type_=ARRAY(c.type)) for c in columns))
        .table_valued(*(column_of(c.name, c.type) for c in columns))
        .render_derived(name=name)
    )


#: The parameter that carries the rows of :func:`json_rows`.
JSON_ROWS_PARAM = "b_rows"


def json_rows(*columns: Column[Any], name: str = "v") -> Subquery:
    """SQLite: rows given as one JSON text, ``[[id, acked, ...], ...]`` bound as
    :data:`JSON_ROWS_PARAM` (see :func:`json_rows_text`), read by ``json_each`` into a derived
    table whose columns are named and typed as ``columns``.

    SQLite's counterpart of :func:`unnest_rows`: an ``executemany`` makes SQLAlchemy build and
    type-process a parameter dictionary per row, and recording a backfill's answers that way
    was a fifth of the worker's GIL time; here the values are converted once, column by column,
    and the statement has three parameters whatever the batch's size."""
    each = func.json_each(bindparam(JSON_ROWS_PARAM, type_=Text)).table_valued("value")
    return select(
        *(
            type_coerce(func.json_extract(each.c.value, f"$[{k}]"), c.type).label(c.name)
            for k, c in enumerate(columns)
        )
    ).subquery(name)


def json_rows_text(
    dialect: Dialect, columns: Sequence[Column[Any]], values: Sequence[Sequence[Any]]
) -> str:
    """The JSON text for :func:`json_rows` over the same ``columns`` of rows given column by
    column (``values[k]`` holds column ``k`` of every row): each value converted by its
    column's bind processor, so a time becomes SQLite's UTC text and compares with stored
    times as text does."""
    converted = []
    for column, column_values in zip(columns, values, strict=True):
        convert = column.type.dialect_impl(dialect).bind_processor(dialect)
        converted.append(column_values if convert is None else list(map(convert, column_values)))
    return orjson.dumps(list(zip(*converted, strict=True))).decode()
