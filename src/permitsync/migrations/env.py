"""Alembic environment: runs against the engine handed over in ``config.attributes``."""

from alembic import context
from sqlalchemy import Engine

from permitsync.adapters.db.engine import create_db_engine
from permitsync.adapters.db.schema import metadata

config = context.config


def run_migrations() -> None:
    engine = config.attributes.get("engine")
    owned = engine is None
    if owned:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no engine or sqlalchemy.url given to Alembic")
        engine = create_db_engine(url)
    if not isinstance(engine, Engine):
        raise TypeError("config.attributes['engine'] must be an Engine")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    if owned:
        engine.dispose()


run_migrations()
