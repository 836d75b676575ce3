"""The tables. SQLAlchemy Core: the sync engine's hot path writes with set-based statements.

Offstreet owns companies', locations' and permits' identifiers (``external_id``); permits also
have a surrogate integer key that child rows point at.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
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
    false,
    text,
)

from permitsync.adapters.db.types import UTCDateTime

#: Offstreet's identifiers are short opaque strings.
EXTERNAL_ID_LENGTH = 64
NAME_LENGTH = 200
#: A 64-bit id for the tables that grow for ever (SQLite's INTEGER PRIMARY KEY is 64-bit and
#: only an INTEGER column is its rowid, hence the variant).
WIDE_ID = BigInteger().with_variant(Integer, "sqlite")

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

# -- the sync engine ---------------------------------------------------------------------------

integrations = Table(
    "integrations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("company_id", String(EXTERNAL_ID_LENGTH), ForeignKey("companies.id"), nullable=False),
    Column("provider", String(16), nullable=False),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("operator_id", String(36), nullable=False),
    Column("state", String(24), nullable=False),
    Column("state_changed_at", UTCDateTime(), nullable=False),
    Column("vehicle_state_style", String(8), nullable=False),
    Column("zones_synced_at", UTCDateTime(), nullable=True),
    Column("zones_error", String(500), nullable=True),
    # Shared by every worker: the circuit breaker and the pacing of requests.
    Column("breaker", String(16), nullable=False),
    Column("breaker_changed_at", UTCDateTime(), nullable=False),
    Column("consecutive_failures", Integer, nullable=False),
    Column("not_before", UTCDateTime(), nullable=True),
    Column("rate_tat", UTCDateTime(), nullable=True),
    Column("last_success_at", UTCDateTime(), nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("last_error_at", UTCDateTime(), nullable=True),
    # Why the integration as a whole fails (refused credentials, withdrawn authorisation, a
    # redirect), in plain words; None while it works. Cleared by the next success.
    Column("failing_reason", String(500), nullable=True),
    # The last health recorded on the timeline (healthy, degraded, failing).
    Column("health", String(16), nullable=False, server_default="healthy"),
    # Background zone pulls while Passport refuses the operator or is down.
    Column("zones_attempts", Integer, nullable=False, server_default="0"),
    Column("zones_retry_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("company_id", "provider", name="uq_integrations_company_provider"),
)

zones = Table(
    "zones",
    metadata,
    Column("integration_id", Integer, ForeignKey("integrations.id"), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("number", String(NAME_LENGTH), nullable=False),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("present", Boolean, nullable=False),
    Column("synced_at", UTCDateTime(), nullable=False),
)

zone_mappings = Table(
    "zone_mappings",
    metadata,
    Column("company_id", String(EXTERNAL_ID_LENGTH), primary_key=True),
    Column("location_id", String(EXTERNAL_ID_LENGTH), primary_key=True),
    Column("integration_id", Integer, nullable=False),
    Column("zone_id", String(64), nullable=False),
    Column("mapped_at", UTCDateTime(), nullable=False),
    Column("mapped_by", String(NAME_LENGTH), nullable=False),
    ForeignKeyConstraint(
        ["company_id", "location_id"],
        ["locations.company_id", "locations.id"],
        name="fk_zone_mappings_location",
    ),
    ForeignKeyConstraint(
        ["integration_id", "zone_id"],
        ["zones.integration_id", "zones.id"],
        name="fk_zone_mappings_zone",
    ),
)

#: One row per Passport session: the durable outbox. ``desired_*`` is what the permits call
#: for, ``acked_*`` what Passport acknowledged; the row is due while they differ.
rights = Table(
    "rights",
    metadata,
    Column("id", WIDE_ID, primary_key=True, autoincrement=True),
    Column("session_id", String(64), nullable=False, unique=True),
    Column("integration_id", Integer, ForeignKey("integrations.id"), nullable=False),
    Column("permit_pk", Integer, ForeignKey("permits.pk"), nullable=False),
    Column("plate", String(16), nullable=False),
    Column("state", String(8), nullable=False),
    Column("country", String(2), nullable=False),
    Column("zone_id", String(64), nullable=False),
    Column("start_time", UTCDateTime(), nullable=False),
    Column("desired_present", Boolean, nullable=False),
    Column("desired_end", UTCDateTime(), nullable=False),
    Column("open_ended", Boolean, nullable=False),
    Column("absent_since", UTCDateTime(), nullable=True),
    Column("desired_version", Integer, nullable=False),
    Column("desired_changed_at", UTCDateTime(), nullable=False),
    Column("acked_version", Integer, nullable=False),
    Column("acked", String(8), nullable=False),
    Column("acked_end", UTCDateTime(), nullable=True),
    Column("acked_at", UTCDateTime(), nullable=True),
    # A started/extended sent whose outcome is unknown (see domain.rights.RightState).
    Column("unconfirmed_kind", String(40), nullable=True),
    Column("unconfirmed_end", UTCDateTime(), nullable=True),
    Column("parked_version", Integer, nullable=True),
    Column("problem", JSON, nullable=True),
    Column("due_at", UTCDateTime(), nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("last_attempt_at", UTCDateTime(), nullable=True),
    Column("last_outcome", String(300), nullable=True),
    # A test plate's right: the only kind sent before the integration is live.
    Column("test", Boolean, nullable=False, server_default=false()),
    Index("ix_rights_due", "due_at"),
    # The claim's index: one integration's due rights in due order, without reading the
    # rights that are not due (most of them); partial, so it holds only the queue.
    Index(
        "ix_rights_integration_due",
        "integration_id",
        "due_at",
        sqlite_where=text("due_at IS NOT NULL"),
        postgresql_where=text("due_at IS NOT NULL"),
    ),
    Index("ix_rights_permit", "permit_pk"),
    Index("ix_rights_integration_parked", "integration_id", "parked_version"),
)

sync_requests = Table(
    "sync_requests",
    metadata,
    Column("id", WIDE_ID, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("integration_id", Integer, nullable=True),
    Column("method", String(8), nullable=False),
    Column("path", String(200), nullable=False),
    Column("event_type", String(40), nullable=True),
    Column("items", Integer, nullable=False),
    Column("status", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=False),
    Column("problem_type", String(200), nullable=True),
    Column("error", String(500), nullable=True),
    Index("ix_sync_requests_at", "at"),
    Index("ix_sync_requests_integration_at", "integration_id", "at"),
)

#: Cross-process jobs (reconciliation, horizon refresh): who holds each, until when.
job_leases = Table(
    "job_leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("last_run_at", UTCDateTime(), nullable=True),
)

#: Each reconciliation: what was compared and what was repaired.
reconciliations = Table(
    "reconciliations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("integration_id", Integer, ForeignKey("integrations.id"), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("trigger", String(16), nullable=False),
    Column("checked", Integer, nullable=False),
    Column("missing", Integer, nullable=False),
    Column("unexpected", Integer, nullable=False),
    Column("different", Integer, nullable=False),
    Column("repaired", Integer, nullable=False),
    Column("error", String(500), nullable=True),
    Index("ix_reconciliations_integration", "integration_id", "started_at"),
)

# -- the dashboard -----------------------------------------------------------------------------

#: People who sign in to the dashboard: staff (every company) or one company's admin.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("is_staff", Boolean, nullable=False),
    Column("company_id", String(EXTERNAL_ID_LENGTH), ForeignKey("companies.id"), nullable=True),
    Column("failed_logins", Integer, nullable=False),
    Column("locked_until", UTCDateTime(), nullable=True),
    Column("last_login_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

#: Signed-in browsers: the SHA-256 of the session token the cookie carries, and its CSRF token.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_web_sessions_user", "user_id"),
)

#: The tracking record: every step of an integration's setup and life, oldest first.
integration_events = Table(
    "integration_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("integration_id", Integer, ForeignKey("integrations.id"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("actor", String(NAME_LENGTH), nullable=False),
    Column("message", String(1000), nullable=False),
    Column("details", JSON, nullable=False),
    Index("ix_integration_events_integration", "integration_id", "id"),
)

#: Per-company throttling of actions that call Passport from a request (GCRA, as the rate).
action_throttles = Table(
    "action_throttles",
    metadata,
    Column("company_id", String(EXTERNAL_ID_LENGTH), primary_key=True),
    Column("action", String(40), primary_key=True),
    Column("tat", UTCDateTime(), nullable=False),
)

#: Who hears about a company's integration: email addresses and a webhook.
contacts = Table(
    "contacts",
    metadata,
    Column("company_id", String(EXTERNAL_ID_LENGTH), ForeignKey("companies.id"), primary_key=True),
    Column("emails", JSON, nullable=False),
    Column("webhook_url", String(2000), nullable=True),
    # Standard Webhooks signing secret (whsec_...); shown once when created.
    Column("webhook_secret", String(100), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(NAME_LENGTH), nullable=False),
)

#: The notification outbox: one row per (timeline event, channel), written in the event's own
#: transaction and delivered by workers with retries, like rights.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("company_id", String(EXTERNAL_ID_LENGTH), nullable=False),
    Column("integration_id", Integer, ForeignKey("integrations.id"), nullable=False),
    Column("event_id", Integer, ForeignKey("integration_events.id"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("target", String(2000), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("text", String(4000), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("due_at", UTCDateTime(), nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime(), nullable=True),
    UniqueConstraint("event_id", "channel", name="uq_notifications_event_channel"),
    Index("ix_notifications_due", "due_at"),
    Index("ix_notifications_integration", "integration_id", "id"),
)
