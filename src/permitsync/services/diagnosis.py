"""Plate diagnosis, the guide's "test plate doesn't appear" turned into a tool: the plate
normalised; every permit of the company that has it; for each, each location (mapped or not)
and each right, desired against acknowledged, with the last attempt and Passport's answer; a
live look in Passport's enforcement lookup; and a verdict in plain words per location.

The live lookup calls Passport from the request, outside any transaction, taking its request
from the integration's shared rate (a read, so it is paced rather than throttled).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from permitsync.adapters.db import integrations as integration_db
from permitsync.adapters.db import registry as repo
from permitsync.adapters.db.schema import integrations, permit_vehicles, rights, zones
from permitsync.adapters.db.status import status_of
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.adapters.passport.errors import PassportError
from permitsync.domain.diagnosis import HeldInPassport, PlaceFacts, RightFacts, verdict
from permitsync.domain.errors import DomainValidationError
from permitsync.domain.permits import effective_status
from permitsync.domain.plates import normalize_plate
from permitsync.services import lifecycle
from permitsync.services.auth import Actor
from permitsync.services.errors import NotFound
from permitsync.services.test_plate import PlateLookup
from permitsync.sync import lease


class PlateDiagnosis:
    """Answers "why is (or isn't) this plate in Passport?"."""

    def __init__(
        self,
        engine: Engine,
        *,
        lookup: PlateLookup | None,
        clock: Callable[[], datetime],
        pace: Callable[[int], None] = lambda _integration_id: None,
    ) -> None:
        self._engine = engine
        self._lookup = lookup
        self._clock = clock
        self._pace = pace

    def diagnose(self, actor: Actor, company_id: str, plate: str) -> dict[str, Any]:
        """The whole picture for ``plate`` in ``company_id``."""
        try:
            normal = normalize_plate(plate)
        except ValueError as exc:
            raise DomainValidationError.single("plate", str(exc)) from None
        now = self._clock()
        with UnitOfWork(self._engine, readonly=True) as uow:
            conn = uow.conn
            if not actor.can_reach(company_id) or repo.get_company(conn, company_id) is None:
                raise NotFound(f"no company {company_id!r}")
            integration = conn.execute(
                select(integrations.c.id, integrations.c.operator_id, integrations.c.state).where(
                    integrations.c.company_id == company_id
                )
            ).one_or_none()
            pks = sorted(
                set(
                    conn.execute(
                        select(permit_vehicles.c.permit_pk).where(
                            permit_vehicles.c.company_id == company_id,
                            permit_vehicles.c.plate == normal,
                        )
                    ).scalars()
                )
            )
            permits = repo.get_permits_by_pk(conn, pks)
            timezones = repo.all_location_timezones(conn, company_id)
            names = {loc.id: loc.name for loc in repo.list_locations(conn, company_id)}
            mapped = (
                {m.location_id: m for m in lifecycle.mapped_locations(conn, integration.id)}
                if integration
                else {}
            )
            right_rows = (
                conn.execute(
                    select(
                        rights,
                        zones.c.number.label("zone_number"),
                        status_of().label("status"),
                        lease.held().label("held"),
                    )
                    .outerjoin(
                        zones,
                        (zones.c.integration_id == rights.c.integration_id)
                        & (zones.c.id == rights.c.zone_id),
                    )
                    .where(rights.c.permit_pk.in_(pks), rights.c.plate == normal)
                    .order_by(rights.c.id)
                ).all()
                if pks
                else []
            )
            views = {
                view["session_id"]: view
                for pk in pks
                for view in integration_db.permit_rights(conn, pk)
            }
        lookup = self._look(integration, normal)
        held_by_session = {r["session_id"]: r for r in lookup["rights"] if r["session_id"]}
        numbers = {z.zone_id: z.number for z in mapped.values()}
        report_permits = []
        verdicts = []
        for permit in permits:
            status = effective_status(permit.terms.status, permit.terms.valid_to, now)
            own_rights = [r for r in right_rows if r.permit_pk == permit.pk]
            places = []
            for location_id in permit.terms.location_ids:
                place = mapped.get(location_id)
                right = _current_right(own_rights, place.zone_id if place else None)
                held = held_by_session.get(right.session_id) if right is not None else None
                facts = PlaceFacts(
                    permit_status=status,
                    integration_state=integration.state if integration else None,
                    location_name=names.get(location_id, location_id),
                    timezone=timezones.get(location_id, "UTC"),
                    zone=place.number if place else None,
                    zone_present=bool(place.present) if place else False,
                    right=_right_facts(right, now) if right is not None else None,
                    lookup_ok=lookup["ok"],
                    in_passport=(
                        HeldInPassport(
                            zone=numbers.get(held["zone_id"], held["zone_id"]),
                            end=held["end"],
                            session_id=held["session_id"],
                        )
                        if held
                        else None
                    ),
                )
                code, sentence = verdict(facts)
                places.append(
                    {
                        "location_id": location_id,
                        "location_name": facts.location_name,
                        "zone": facts.zone,
                        "mapping": (
                            "unmapped"
                            if place is None
                            else ("mapped" if place.present else "mapping_stale")
                        ),
                        "verdict": code,
                        "message": sentence,
                    }
                )
                verdicts.append(
                    {"permit_id": permit.external_id, "location_id": location_id, "verdict": code}
                    | {"message": sentence}
                )
            report_permits.append(
                {
                    "permit_id": permit.external_id,
                    "status": status,
                    "valid_from": permit.terms.valid_from,
                    "valid_to": permit.terms.valid_to,
                    "locations": places,
                    "rights": [
                        views[r.session_id] | {"held": bool(r.held), "attempts": r.attempts}
                        for r in own_rights
                    ],
                }
            )
        return {
            "plate": plate,
            "normalized": normal,
            "integration_state": integration.state if integration else None,
            "permits": report_permits,
            "passport_lookup": lookup,
            "verdicts": verdicts,
            "summary": _summary(normal, verdicts),
        }

    def _look(self, integration: Any, plate: str) -> dict[str, Any]:  # noqa: ANN401 - a Row
        """Passport's enforcement lookup for the plate now, or why it was not made."""
        if integration is None or self._lookup is None:
            why = "no integration" if integration is None else "Passport is not configured"
            return {"ok": False, "error": why, "rights": []}
        try:
            self._pace(integration.id)
            found = self._lookup.lookup_rights(integration.operator_id, plate=plate)
        except PassportError as exc:
            return {"ok": False, "error": f"Passport unreachable: {exc}", "rights": []}
        return {
            "ok": True,
            "error": None,
            "rights": [
                {
                    "zone_id": r.zone_id,
                    "plate": r.plate,
                    "state": r.state,
                    "start": r.start,
                    "end": r.end,
                    "session_id": r.reference_id,
                }
                for r in found
            ],
        }


def _current_right(rows: list[Any], zone_id: str | None) -> Any:  # noqa: ANN401 - a Row
    """The newest right in the zone (an earlier one may have been retired)."""
    if zone_id is None:
        return None
    in_zone = [r for r in rows if r.zone_id == zone_id]
    present = [r for r in in_zone if r.desired_present]
    return (present or in_zone or [None])[-1]


def _right_facts(row: Any, now: datetime) -> RightFacts:  # noqa: ANN401 - a Row
    problem = row.problem or {}
    code = str(problem.get("type") or "").rsplit(":", 1)[-1] or None
    return RightFacts(
        session_id=row.session_id,
        status=row.status,
        desired_present=row.desired_present,
        acked=row.acked,
        pending_s=max(0.0, (now - row.desired_changed_at).total_seconds()),
        last_outcome=row.last_outcome if row.attempts else None,
        problem_code=code,
        test=bool(row.test),
    )


def _summary(plate: str, verdicts: list[dict[str, Any]]) -> str:
    if not verdicts:
        return f"no permit of this company has plate {plate}"
    seen = [v for v in verdicts if v["verdict"] == "in_passport"]
    chosen = seen[0] if seen else verdicts[0]
    return f"{plate}: {chosen['message']}"
