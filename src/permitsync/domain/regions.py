"""States, provinces and territories of the US, Canada and Mexico: one lookup, two wire forms.

``resolve_region`` turns what a person or a CSV file says ("nc", "US-NC", "north carolina",
"Québec", "nuevo leon") into a ``Region``; ``format_state`` gives Passport's ``vehicle_state``
in the form an integration is set to (A-12: ``NC`` or ``US-NC``).

Mexican states use their ISO 3166-2:MX codes (``JAL``, ``CMX``, ``NLE``). The informal
two-letter Mexican abbreviations are deliberately not accepted: several of them are US or
Canadian codes (``NL`` is Newfoundland and Labrador, ``BC`` British Columbia, ``MI`` Michigan),
so guessing would put a plate in the wrong jurisdiction.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final, Literal, get_args

__all__ = ["REGIONS", "Region", "format_state", "resolve_region"]


@dataclass(frozen=True)
class Region:
    """A US state or territory, a Canadian province or territory, or a Mexican state."""

    code: str
    country: str
    name: str

    @property
    def iso_code(self) -> str:
        """The ISO 3166-2 code, such as ``US-NC``, ``CA-QC`` or ``MX-JAL``."""
        return f"{self.country}-{self.code}"


# (code, official name, other names people write). Names are matched ignoring case, accents,
# dots, apostrophes and extra spaces, so "Québec" also covers "quebec" and "QUEBEC".
_US: tuple[tuple[str, ...], ...] = (
    ("AL", "Alabama"),
    ("AK", "Alaska"),
    ("AZ", "Arizona"),
    ("AR", "Arkansas"),
    ("CA", "California"),
    ("CO", "Colorado"),
    ("CT", "Connecticut"),
    ("DE", "Delaware"),
    ("FL", "Florida"),
    ("GA", "Georgia"),
    ("HI", "Hawaii", "Hawai\u02bbi"),
    ("ID", "Idaho"),
    ("IL", "Illinois"),
    ("IN", "Indiana"),
    ("IA", "Iowa"),
    ("KS", "Kansas"),
    ("KY", "Kentucky"),
    ("LA", "Louisiana"),
    ("ME", "Maine"),
    ("MD", "Maryland"),
    ("MA", "Massachusetts"),
    ("MI", "Michigan"),
    ("MN", "Minnesota"),
    ("MS", "Mississippi"),
    ("MO", "Missouri"),
    ("MT", "Montana"),
    ("NE", "Nebraska"),
    ("NV", "Nevada"),
    ("NH", "New Hampshire"),
    ("NJ", "New Jersey"),
    ("NM", "New Mexico"),
    ("NY", "New York", "New York State"),
    ("NC", "North Carolina"),
    ("ND", "North Dakota"),
    ("OH", "Ohio"),
    ("OK", "Oklahoma"),
    ("OR", "Oregon"),
    ("PA", "Pennsylvania"),
    ("RI", "Rhode Island"),
    ("SC", "South Carolina"),
    ("SD", "South Dakota"),
    ("TN", "Tennessee"),
    ("TX", "Texas"),
    ("UT", "Utah"),
    ("VT", "Vermont"),
    ("VA", "Virginia"),
    ("WA", "Washington", "Washington State"),
    ("WV", "West Virginia"),
    ("WI", "Wisconsin"),
    ("WY", "Wyoming"),
    ("DC", "District of Columbia", "Washington DC", "Washington D.C.", "D.C."),
    ("PR", "Puerto Rico"),
    ("GU", "Guam"),
    ("VI", "U.S. Virgin Islands", "US Virgin Islands", "Virgin Islands"),
    ("AS", "American Samoa"),
    ("MP", "Northern Mariana Islands", "Northern Marianas"),
    ("UM", "U.S. Minor Outlying Islands", "United States Minor Outlying Islands"),
)

_CA: tuple[tuple[str, ...], ...] = (
    ("AB", "Alberta"),
    ("BC", "British Columbia", "Colombie-Britannique"),
    ("MB", "Manitoba"),
    ("NB", "New Brunswick", "Nouveau-Brunswick"),
    ("NL", "Newfoundland and Labrador", "Newfoundland", "Terre-Neuve-et-Labrador"),
    ("NS", "Nova Scotia", "Nouvelle-Écosse"),
    ("NT", "Northwest Territories", "Territoires du Nord-Ouest"),
    ("NU", "Nunavut"),
    ("ON", "Ontario"),
    ("PE", "Prince Edward Island", "PEI", "Île-du-Prince-Édouard"),
    ("QC", "Québec", "Province of Quebec"),
    ("SK", "Saskatchewan"),
    ("YT", "Yukon", "Yukon Territory"),
)

_MX: tuple[tuple[str, ...], ...] = (
    ("AGU", "Aguascalientes"),
    ("BCN", "Baja California"),
    ("BCS", "Baja California Sur"),
    ("CAM", "Campeche"),
    ("CHP", "Chiapas"),
    ("CHH", "Chihuahua"),
    ("CMX", "Ciudad de México", "Mexico City", "CDMX", "Distrito Federal", "DIF"),
    ("COA", "Coahuila", "Coahuila de Zaragoza"),
    ("COL", "Colima"),
    ("DUR", "Durango"),
    ("GUA", "Guanajuato"),
    ("GRO", "Guerrero"),
    ("HID", "Hidalgo"),
    ("JAL", "Jalisco"),
    # "México" is both the state and the country; in a state field it can only be the state.
    ("MEX", "Estado de México", "México", "State of Mexico", "Edomex"),
    ("MIC", "Michoacán", "Michoacán de Ocampo"),
    ("MOR", "Morelos"),
    ("NAY", "Nayarit"),
    ("NLE", "Nuevo León"),
    ("OAX", "Oaxaca"),
    ("PUE", "Puebla"),
    ("QUE", "Querétaro", "Querétaro de Arteaga"),
    ("ROO", "Quintana Roo"),
    ("SLP", "San Luis Potosí"),
    ("SIN", "Sinaloa"),
    ("SON", "Sonora"),
    ("TAB", "Tabasco"),
    ("TAM", "Tamaulipas"),
    ("TLA", "Tlaxcala"),
    ("VER", "Veracruz", "Veracruz de Ignacio de la Llave"),
    ("YUC", "Yucatán"),
    ("ZAC", "Zacatecas"),
)

# Half names people type that fit two regions; they resolve to nothing and the error lists both.
_AMBIGUOUS_SHORTHANDS: dict[str, tuple[str, ...]] = {
    "Carolina": ("US-NC", "US-SC"),
    "Dakota": ("US-ND", "US-SD"),
    "Baja": ("MX-BCN", "MX-BCS"),
}

_COUNTRY_NAMES = {
    "US": "the United States",
    "CA": "Canada",
    "MX": "Mexico",
}
_COUNTRY_REGION_KINDS = {
    "US": "a US state or territory",
    "CA": "a Canadian province or territory",
    "MX": "a Mexican state",
}
_COUNTRY_ALIASES = {
    "us": "US",
    "usa": "US",
    "united states": "US",
    "united states of america": "US",
    "ca": "CA",
    "can": "CA",
    "canada": "CA",
    "mx": "MX",
    "mex": "MX",
    "mexico": "MX",
}

_ISO_FORM = re.compile(r"([A-Za-z]{2})\s*-\s*([A-Za-z]{2,3})")


def _build_regions() -> tuple[Region, ...]:
    tables = (("US", _US), ("CA", _CA), ("MX", _MX))
    return tuple(
        Region(code=row[0], country=country, name=row[1])
        for country, table in tables
        for row in table
    )


REGIONS: tuple[Region, ...] = _build_regions()
"""Every supported region: US states, DC and territories, Canadian provinces and territories,
Mexican states."""

_BY_ISO: dict[str, Region] = {region.iso_code: region for region in REGIONS}


def _key(text: str) -> str:
    """Fold case, accents and punctuation so that spellings of one name compare equal."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    folded = bare.casefold().replace("&", " and ")
    # Dots, apostrophes and the okina join ("D.C." -> "dc"); other marks separate words.
    joined = re.sub("[.'`\u02bb\u2019]", "", folded)
    return " ".join(re.sub(r"[^a-z0-9]+", " ", joined).split())


def _build_index() -> dict[str, tuple[Region, ...]]:
    index: dict[str, list[Region]] = {}

    def add(spelling: str, region: Region) -> None:
        bucket = index.setdefault(_key(spelling), [])
        if region not in bucket:
            bucket.append(region)

    tables = (("US", _US), ("CA", _CA), ("MX", _MX))
    for country, table in tables:
        for code, *names in table:
            region = _BY_ISO[f"{country}-{code}"]
            add(code, region)
            for name in names:
                add(name, region)
    for shorthand, iso_codes in _AMBIGUOUS_SHORTHANDS.items():
        for iso_code in iso_codes:
            add(shorthand, _BY_ISO[iso_code])
    return {key: tuple(regions) for key, regions in index.items()}


_INDEX: dict[str, tuple[Region, ...]] = _build_index()


def _describe(region: Region) -> str:
    return f"{region.name} ({region.iso_code})"


def _parse_country(country: str) -> str:
    code = _COUNTRY_ALIASES.get(_key(country))
    if code is None:
        raise ValueError(
            f"country {country!r} is not supported: use US, CA or MX (or USA, CAN, MEX)"
        )
    return code


def _not_found(state: str, country: str | None) -> ValueError:
    if country is None:
        kind = "a US state/territory, Canadian province/territory or Mexican state"
    else:
        kind = _COUNTRY_REGION_KINDS[country]
    hint = ""
    if country in {None, "MX"}:
        hint = " (Mexican states use ISO 3166-2:MX codes such as JAL, CMX or NLE)"
    return ValueError(f"{state!r} is not {kind}{hint}")


def _mismatch(state: str, found: tuple[Region, ...], country: str) -> ValueError:
    described = " or ".join(_describe(region) for region in found)
    verb = "which is not" if len(found) == 1 else "neither of which is"
    hint = " (Mexican states use ISO 3166-2:MX codes such as NLE)" if country == "MX" else ""
    return ValueError(f"{state!r} is {described}, {verb} in {_COUNTRY_NAMES[country]}{hint}")


def _resolve_iso(state: str, iso_country: str, code: str, country: str | None) -> Region:
    region = _BY_ISO.get(f"{iso_country}-{code}")
    if region is None:
        raise _not_found(state, iso_country)
    if country is not None and region.country != country:
        raise _mismatch(state, (region,), country)
    return region


def resolve_region(state: str, country: str | None = None) -> Region:
    """Resolve a state, province or territory as people write it to one ``Region``.

    ``state`` may be a code (``nc``, ``NC``, ``JAL``), an ISO 3166-2 form (``US-NC``) or a full
    name in any case, with or without accents and extra spaces (``north carolina``, ``Quebec``,
    ``nuevo leon``). ``country`` (US, CA or MX in any case; also USA, CAN, MEX; ``None`` or
    blank for unknown) restricts the search; without it the country follows from the state.

    Raise ``ValueError`` naming the reason when the state is empty, unknown, ambiguous (the
    message lists the candidates) or in a different country than ``country``.
    """
    country_code = _parse_country(country) if country and country.strip() else None
    if not state.strip():
        raise ValueError("is empty: give a state or province such as NC, ON or JAL")

    iso = _ISO_FORM.fullmatch(state.strip())
    if iso is not None and iso.group(1).upper() in _COUNTRY_NAMES:
        return _resolve_iso(state, iso.group(1).upper(), iso.group(2).upper(), country_code)

    candidates = _INDEX.get(_key(state), ())
    if not candidates:
        raise _not_found(state, country_code)
    if country_code is not None:
        in_country = tuple(region for region in candidates if region.country == country_code)
        if not in_country:
            raise _mismatch(state, candidates, country_code)
        candidates = in_country
    if len(candidates) > 1:
        listed = ", ".join(_describe(region) for region in candidates)
        raise ValueError(f"{state!r} is ambiguous: it could be {listed}; give the code")
    return candidates[0]


#: A-12: how ``vehicle_state`` is sent, per integration: ``NC`` ("code") or ``US-NC`` ("iso").
StateStyle = Literal["code", "iso"]
#: Every style, for validating input.
STATE_STYLES: Final[tuple[str, ...]] = get_args(StateStyle)
#: A-12: the style of a new integration.
DEFAULT_STATE_STYLE: Final[StateStyle] = "code"


def format_state(region: Region, style: StateStyle) -> str:
    """Passport's ``vehicle_state`` (A-12): ``NC`` for style "code", ``US-NC`` for "iso"."""
    if style == "code":
        return region.code
    if style == "iso":
        return region.iso_code
    raise ValueError(f"state format {style!r} is not supported: use 'code' or 'iso'")
