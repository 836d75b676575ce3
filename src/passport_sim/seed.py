"""Who may call the simulator and what it knows: clients, operators and their zones.

A seed is read from a JSON or YAML file of the shape described in ``docs/simulator.md`` or
built in code. Without one the simulator starts from :func:`default_seed`, whose ids are
fixed so that demos and tests are reproducible.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: The audience the token endpoint expects (contract: "the audience is a setting").
DEFAULT_AUDIENCE = "public.api.passportinc.com"

_NAMESPACE = uuid.UUID("5b1f3c0e-7a55-4c33-9f0e-3a0b2d6c9e41")

DEMO_CLIENT_ID = "demo"
DEMO_CLIENT_SECRET = "demo-secret"  # noqa: S105 - a published demo credential, not a secret
DEMO_OPERATOR_ID = "8c1e6a52-6f1d-4f5e-9a51-2d3f7b9c0a11"
DEMO_OPERATOR_NAME = "University"
#: An operator that exists but has not authorised the demo client (answers 403).
OTHER_OPERATOR_ID = "2f4d9b7e-3c1a-4e8b-b6d5-9a0c1e2f3b4d"
OTHER_OPERATOR_NAME = "Downtown Garages"


class SeedError(ValueError):
    """A seed file or dict that cannot be used; the message names the field."""


def zone_uuid(operator_id: str, number: str) -> str:
    """Return the fixed zone id the default seed gives zone ``number`` of ``operator_id``."""
    return str(uuid.uuid5(_NAMESPACE, f"{operator_id}/{number}"))


@dataclass(frozen=True, slots=True)
class Zone:
    """A Passport zone: a stable UUID, the number on the signage and a display name."""

    id: str
    number: str
    name: str


@dataclass(frozen=True, slots=True)
class Operator:
    """A Passport customer, identified by its UUID, with its zones."""

    id: str
    name: str
    zones: tuple[Zone, ...] = ()


@dataclass(frozen=True, slots=True)
class Client:
    """An integrator's OAuth client and the operators that authorised it."""

    client_id: str
    client_secret: str
    authorized_operators: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Seed:
    """Everything the simulator knows before the first request."""

    clients: tuple[Client, ...]
    operators: tuple[Operator, ...]
    audience: str = DEFAULT_AUDIENCE
    _operators_by_id: dict[str, Operator] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Index operators by id and refuse duplicates, which would make lookups ambiguous."""
        for operator in self.operators:
            if operator.id in self._operators_by_id:
                raise SeedError(f"operator {operator.id} appears twice in the seed")
            _check_uuid(operator.id, "operators[].id")
            self._operators_by_id[operator.id] = operator

    def operator(self, operator_id: str) -> Operator | None:
        """Return the operator with this id, or ``None``."""
        return self._operators_by_id.get(operator_id)

    def client(self, client_id: str) -> Client | None:
        """Return the client with this id, or ``None``."""
        return next((c for c in self.clients if c.client_id == client_id), None)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Seed:
        """Build a seed from its JSON/YAML shape; raise ``ValueError`` naming a bad field."""
        try:
            clients = tuple(
                Client(
                    client_id=str(c["client_id"]),
                    client_secret=str(c["client_secret"]),
                    authorized_operators=frozenset(
                        str(o).lower() for o in c.get("authorized_operators", [])
                    ),
                )
                for c in raw.get("clients", [])
            )
            operators = tuple(
                Operator(
                    id=str(o["id"]).lower(),
                    name=str(o.get("name", "")),
                    zones=tuple(
                        Zone(id=str(z["id"]).lower(), number=str(z["number"]), name=str(z["name"]))
                        for z in o.get("zones", [])
                    ),
                )
                for o in raw.get("operators", [])
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise SeedError(f"invalid seed: missing or malformed field {exc}") from exc
        return cls(clients, operators, str(raw.get("audience", DEFAULT_AUDIENCE)))

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON/YAML shape of this seed (the inverse of :meth:`from_dict`)."""
        return {
            "audience": self.audience,
            "clients": [
                {
                    "client_id": c.client_id,
                    "client_secret": c.client_secret,
                    "authorized_operators": sorted(c.authorized_operators),
                }
                for c in self.clients
            ],
            "operators": [
                {
                    "id": o.id,
                    "name": o.name,
                    "zones": [{"id": z.id, "number": z.number, "name": z.name} for z in o.zones],
                }
                for o in self.operators
            ],
        }


def _check_uuid(value: str, where: str) -> None:
    try:
        uuid.UUID(value)
    except ValueError as exc:
        raise SeedError(f"invalid seed: {where} {value!r} is not a UUID") from exc


def _demo_zones(operator_id: str, numbered: list[tuple[str, str]]) -> tuple[Zone, ...]:
    return tuple(Zone(zone_uuid(operator_id, n), n, name) for n, name in numbered)


DEMO_ZONES: tuple[Zone, ...] = _demo_zones(
    DEMO_OPERATOR_ID,
    [("LotA", "Lot A"), ("LotB", "Lot B"), ("Z123", "Zone 123"), ("GN1", "Garage North")],
)
OTHER_ZONES: tuple[Zone, ...] = _demo_zones(OTHER_OPERATOR_ID, [("P1", "Garage P1")])


def default_seed() -> Seed:
    """Return the demo seed: client ``demo``, its operator "University", and one it may not use."""
    return Seed(
        clients=(Client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, frozenset({DEMO_OPERATOR_ID})),),
        operators=(
            Operator(DEMO_OPERATOR_ID, DEMO_OPERATOR_NAME, DEMO_ZONES),
            Operator(OTHER_OPERATOR_ID, OTHER_OPERATOR_NAME, OTHER_ZONES),
        ),
    )


def load_seed(path: Path) -> Seed:
    """Read a seed from a ``.json``, ``.yaml`` or ``.yml`` file."""
    text = path.read_text(encoding="utf-8")
    raw = yaml.safe_load(text) if path.suffix.lower() in {".yaml", ".yml"} else json.loads(text)
    if not isinstance(raw, dict):
        raise SeedError(f"invalid seed in {path}: the top level must be an object")
    return Seed.from_dict(raw)
