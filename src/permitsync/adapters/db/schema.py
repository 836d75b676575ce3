"""The tables. SQLAlchemy Core: the sync engine's hot path writes with set-based statements.

Offstreet owns companies', locations' and permits' identifiers (``external_id``); permits also
have a surrogate integer key that child rows point at.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

from permitsync.adapters.db.types import UTCDateTime

#: Offstreet's identifiers are short opaque strings.
EXTERNAL_ID_LENGTH = 64
NAME_LENGTH = 200

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    },
)

companies = Table(
    "companies",
    metadata,
    Column("id", String(EXTERNAL_ID_LENGTH), primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

locations = Table(
    "locations",
    metadata,
    Column(
        "company_id",
        String(EXTERNAL_ID_LENGTH),
        ForeignKey("companies.id"),
        primary_key=True,
    ),
    Column("id", String(EXTERNAL_ID_LENGTH), primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

permits = Table(
    "permits",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("company_id", String(EXTERNAL_ID_LENGTH), ForeignKey("companies.id"), nullable=False),
    Column("external_id", String(EXTERNAL_ID_LENGTH), nullable=False),
    Column("status", String(16), nullable=False),
    Column("valid_from", UTCDateTime(), nullable=False),
    Column("valid_to", UTCDateTime(), nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("company_id", "external_id", name="uq_permits_company_external"),
)

permit_vehicles = Table(
    "permit_vehicles",
    metadata,
    Column("permit_pk", Integer, ForeignKey("permits.pk"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("company_id", String(EXTERNAL_ID_LENGTH), nullable=False),
    Column("plate", String(16), nullable=False),
    Column("raw_plate", String(32), nullable=False),
    Column("state", String(8), nullable=False),
    Column("country", String(2), nullable=False),
    Index("ix_permit_vehicles_company_plate", "company_id", "plate"),
)

permit_locations = Table(
    "permit_locations",
    metadata,
    Column("permit_pk", Integer, ForeignKey("permits.pk"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("company_id", String(EXTERNAL_ID_LENGTH), nullable=False),
    Column("location_id", String(EXTERNAL_ID_LENGTH), nullable=False),
    ForeignKeyConstraint(
        ["company_id", "location_id"],
        ["locations.company_id", "locations.id"],
        name="fk_permit_locations_location",
    ),
    Index("ix_permit_locations_company_location", "company_id", "location_id"),
)

permit_versions = Table(
    "permit_versions",
    metadata,
    Column("permit_pk", Integer, ForeignKey("permits.pk"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("changed_at", UTCDateTime(), nullable=False),
    Column("changed_by", String(NAME_LENGTH), nullable=False),
    Column("changes", JSON, nullable=False),
    Column("snapshot", JSON, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME_LENGTH), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("is_staff", Boolean, nullable=False),
    Column("company_id", String(EXTERNAL_ID_LENGTH), ForeignKey("companies.id"), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)
