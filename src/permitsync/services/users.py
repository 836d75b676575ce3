"""Dashboard users: staff (every company) or one company's admin, with argon2id password
hashes, browser sessions stored server-side, and a lock-out pause after repeated failures.

The session token lives only in the browser's cookie; the database keeps its SHA-256 (as for
API keys) and the session's CSRF token.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from permitsync.adapters.db.registry import get_company
from permitsync.adapters.db.schema import users, web_sessions
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.domain.errors import DomainValidationError
from permitsync.services.auth import Actor
from permitsync.services.errors import Conflict, NotFound, ServiceError

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_EMAIL = 254


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """After ``max_failures`` wrong passwords in a row the account pauses for ``pause``."""

    max_failures: int = 5
    pause: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    is_staff: bool
    company_id: str | None

    @property
    def actor(self) -> Actor:
        """The user as the services' caller (named by email in version and mapping records)."""
        return Actor(key_name=self.email, is_staff=self.is_staff, company_id=self.company_id)


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: its user and the CSRF token its forms carry."""

    user: User
    csrf_token: str


class LoginRefused(ServiceError):
    """Wrong email or password, or the account is pausing after repeated failures."""


def after_failure(
    failures: int, locked_until: datetime | None, now: datetime, policy: LockoutPolicy
) -> tuple[int, datetime | None]:
    """The failure count and lock of an account after one more wrong password."""
    if locked_until is not None and locked_until > now:
        return failures, locked_until
    failures += 1
    if failures >= policy.max_failures:
        return 0, now + policy.pause
    return failures, None


def normalize_email(email: str) -> str:
    """Trimmed and lower-cased; refused unless it looks like an address."""
    value = email.strip().lower()
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or len(value) > MAX_EMAIL or " " in value:
        raise DomainValidationError.single("email", "must be an email address like a@b.example")
    return value


def check_password(password: str) -> None:
    """Refuse a password too short or too long to be a good one."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise DomainValidationError.single(
            "password", f"must be {MIN_PASSWORD}–{MAX_PASSWORD} characters"
        )


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Users:
    """The dashboard's users and sessions, bound to a database and a clock."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime],
        lockout: LockoutPolicy | None = None,
        session_ttl: timedelta = timedelta(hours=12),
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self.lockout = lockout or LockoutPolicy()
        self.session_ttl = session_ttl
        self._hasher = hasher or PasswordHasher()  # argon2id with the library's parameters
        self._dummy: str | None = None  # hashed on first need: building a container stays cheap

    def create(self, email: str, password: str, *, staff: bool, company_id: str | None) -> User:
        """A new user: staff, or the admin of one existing company."""
        if staff == (company_id is not None):
            raise DomainValidationError.single("company_id", "a user is staff or of one company")
        address = normalize_email(email)
        check_password(password)
        hashed = self._hasher.hash(password)
        try:
            with UnitOfWork(self._engine) as uow:
                if company_id is not None and get_company(uow.conn, company_id) is None:
                    raise NotFound(f"no company {company_id!r}; create it first")
                user_id = uow.conn.execute(
                    insert(users)
                    .values(
                        email=address,
                        password_hash=hashed,
                        is_staff=staff,
                        company_id=company_id,
                        failed_logins=0,
                        created_at=self._clock(),
                    )
                    .returning(users.c.id)
                ).scalar_one()
                uow.commit()
        except IntegrityError:
            raise Conflict(f"a user {address!r} already exists") from None
        return User(id=int(user_id), email=address, is_staff=staff, company_id=company_id)

    def login(self, email: str, password: str) -> tuple[Session, str]:
        """Check the password and open a session; returns it and the token for the cookie."""
        address = email.strip().lower()
        now = self._clock()
        with UnitOfWork(self._engine, readonly=True) as uow:
            row = uow.conn.execute(select(users).where(users.c.email == address)).one_or_none()
        if row is None:
            if self._dummy is None:
                self._dummy = self._hasher.hash(secrets.token_hex(16))
            self._verify(self._dummy, password)  # the same work as for a known address
            raise LoginRefused("the email or password is wrong")
        if row.locked_until is not None and row.locked_until > now:
            raise LoginRefused(self._paused_message(row.locked_until, now))
        if not self._verify(row.password_hash, password):
            failures, locked = after_failure(row.failed_logins, row.locked_until, now, self.lockout)
            with UnitOfWork(self._engine) as uow:
                uow.conn.execute(
                    update(users)
                    .where(users.c.id == row.id)
                    .values(failed_logins=failures, locked_until=locked)
                )
                uow.commit()
            if locked is not None:
                raise LoginRefused(self._paused_message(locked, now))
            raise LoginRefused("the email or password is wrong")
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        values: dict[str, object] = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
        if self._hasher.check_needs_rehash(row.password_hash):
            values["password_hash"] = self._hasher.hash(password)
        with UnitOfWork(self._engine) as uow:
            uow.conn.execute(update(users).where(users.c.id == row.id).values(**values))
            uow.conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= now))
            uow.conn.execute(
                insert(web_sessions).values(
                    id=_token_id(token),
                    user_id=row.id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=now + self.session_ttl,
                )
            )
            uow.commit()
        user = User(id=row.id, email=row.email, is_staff=row.is_staff, company_id=row.company_id)
        return Session(user=user, csrf_token=csrf), token

    def session(self, token: str) -> Session | None:
        """The live session behind a cookie's token, or None."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            row = uow.conn.execute(
                select(
                    users.c.id,
                    users.c.email,
                    users.c.is_staff,
                    users.c.company_id,
                    web_sessions.c.csrf_token,
                )
                .join(users, users.c.id == web_sessions.c.user_id)
                .where(
                    web_sessions.c.id == _token_id(token),
                    web_sessions.c.expires_at > self._clock(),
                )
            ).one_or_none()
        if row is None:
            return None
        user = User(id=row.id, email=row.email, is_staff=row.is_staff, company_id=row.company_id)
        return Session(user=user, csrf_token=row.csrf_token)

    def logout(self, token: str) -> None:
        """End the session: its cookie is worthless from now on."""
        with UnitOfWork(self._engine) as uow:
            uow.conn.execute(delete(web_sessions).where(web_sessions.c.id == _token_id(token)))
            uow.commit()

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self._hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    @staticmethod
    def _paused_message(until: datetime, now: datetime) -> str:
        minutes = max(1, round((until - now).total_seconds() / 60))
        return (
            "too many wrong passwords: this account is paused; "
            f"try again in about {minutes} minute(s)"
        )
