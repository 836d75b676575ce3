"""resolve_region / format_state: states, provinces and territories of the US, Canada, Mexico."""

import re

import pytest

from permitsync.domain.regions import REGIONS, Region, format_state, resolve_region

MEXICAN_ISO_CODES = {
    "AGU", "BCN", "BCS", "CAM", "CHP", "CHH", "CMX", "COA", "COL", "DUR", "GUA",
    "GRO", "HID", "JAL", "MEX", "MIC", "MOR", "NAY", "NLE", "OAX", "PUE", "QUE",
    "ROO", "SLP", "SIN", "SON", "TAB", "TAM", "TLA", "VER", "YUC", "ZAC",
}  # fmt: skip
CANADIAN_CODES = {"AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"}
US_STATE_CODES = {
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ",
    "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT",
    "VA", "WA", "WV", "WI", "WY",
}  # fmt: skip
US_OTHER_CODES = {"DC", "PR", "GU", "VI", "AS", "MP", "UM"}


def _codes(country: str) -> set[str]:
    return {region.code for region in REGIONS if region.country == country}


def test_coverage_is_complete_and_exact() -> None:
    assert len(US_STATE_CODES) == 50
    assert len(MEXICAN_ISO_CODES) == 32
    assert _codes("US") == US_STATE_CODES | US_OTHER_CODES
    assert _codes("CA") == CANADIAN_CODES
    assert _codes("MX") == MEXICAN_ISO_CODES
    assert {region.country for region in REGIONS} == {"US", "CA", "MX"}
    assert len({region.iso_code for region in REGIONS}) == len(REGIONS)


@pytest.mark.parametrize("region", REGIONS, ids=lambda region: region.iso_code)
def test_every_region_resolves_from_its_code_iso_form_and_name(region: Region) -> None:
    assert resolve_region(region.code) == region
    assert resolve_region(region.code.lower()) == region
    assert resolve_region(region.iso_code) == region
    assert resolve_region(region.iso_code.lower()) == region
    assert resolve_region(region.name) == region
    assert resolve_region(region.name.upper()) == region
    assert resolve_region(region.code, region.country) == region
    assert resolve_region(region.name, region.country.lower()) == region


@pytest.mark.parametrize(
    ("state", "country", "iso_code"),
    [
        ("nc", None, "US-NC"),
        (" NC ", None, "US-NC"),
        ("US-NC", None, "US-NC"),
        ("us - nc", None, "US-NC"),
        ("north carolina", None, "US-NC"),
        ("  North   Carolina ", None, "US-NC"),
        ("North-Carolina", None, "US-NC"),
        ("Georgia", None, "US-GA"),
        ("GA", "USA", "US-GA"),
        ("Washington", None, "US-WA"),
        ("Washington DC", None, "US-DC"),
        ("Washington, D.C.", None, "US-DC"),
        ("District of Columbia", "US", "US-DC"),
        ("D.C.", None, "US-DC"),
        ("N.C.", None, "US-NC"),
        ("Hawai\u02bbi", None, "US-HI"),
        ("virgin islands", None, "US-VI"),
        ("U.S. Virgin Islands", "us", "US-VI"),
        ("New Mexico", None, "US-NM"),
        ("CA", None, "US-CA"),  # California, not the country Canada
        ("Quebec", None, "CA-QC"),
        ("Québec", "CA", "CA-QC"),
        ("QUÉBEC", "can", "CA-QC"),
        ("qc", None, "CA-QC"),
        ("Colombie-Britannique", None, "CA-BC"),
        ("Île-du-Prince-Édouard", None, "CA-PE"),
        ("PEI", None, "CA-PE"),
        ("Newfoundland & Labrador", None, "CA-NL"),
        ("NL", None, "CA-NL"),  # not Nuevo León: Mexican states use ISO codes
        ("BC", None, "CA-BC"),  # not Baja California
        ("QUE", None, "MX-QUE"),  # Querétaro; Quebec is QC
        ("queretaro", None, "MX-QUE"),
        ("Nuevo León", None, "MX-NLE"),
        ("nuevo leon", "MEX", "MX-NLE"),
        ("NUEVO LEON", "mx", "MX-NLE"),
        ("nle", None, "MX-NLE"),
        ("MX-NLE", "MX", "MX-NLE"),
        ("Ciudad de México", None, "MX-CMX"),
        ("ciudad de mexico", None, "MX-CMX"),
        ("Mexico City", None, "MX-CMX"),
        ("CDMX", None, "MX-CMX"),
        ("Distrito Federal", None, "MX-CMX"),
        ("Mexico", None, "MX-MEX"),  # in a state field "Mexico" can only be the state
        ("México", "MX", "MX-MEX"),
        ("Estado de México", None, "MX-MEX"),
        ("estado de mexico", "Mexico", "MX-MEX"),
        ("MEX", None, "MX-MEX"),
        ("San Luis Potosí", None, "MX-SLP"),
        ("Michoacán de Ocampo", None, "MX-MIC"),
        ("Coahuila de Zaragoza", None, "MX-COA"),
        ("Veracruz", None, "MX-VER"),
        ("Baja California", None, "MX-BCN"),
        ("Baja California Sur", None, "MX-BCS"),
        ("JAL", "  ", "MX-JAL"),  # a blank country (an empty CSV cell) means "not given"
        ("ON", "", "CA-ON"),
    ],
)
def test_spellings_resolve_to_one_region(state: str, country: str | None, iso_code: str) -> None:
    assert resolve_region(state, country).iso_code == iso_code


def test_the_country_follows_from_the_state() -> None:
    assert resolve_region("Ontario") == Region(code="ON", country="CA", name="Ontario")
    assert resolve_region("jalisco").country == "MX"
    assert resolve_region("texas").country == "US"


@pytest.mark.parametrize(
    ("state", "country", "candidates"),
    [
        ("Carolina", None, ["North Carolina (US-NC)", "South Carolina (US-SC)"]),
        ("dakota", "US", ["North Dakota (US-ND)", "South Dakota (US-SD)"]),
        ("Baja", None, ["Baja California (MX-BCN)", "Baja California Sur (MX-BCS)"]),
    ],
)
def test_ambiguous_names_are_refused_naming_the_candidates(
    state: str, country: str | None, candidates: list[str]
) -> None:
    with pytest.raises(ValueError, match="is ambiguous") as caught:
        resolve_region(state, country)
    for candidate in candidates:
        assert candidate in str(caught.value)


@pytest.mark.parametrize(
    ("state", "country", "message"),
    [
        ("", None, "is empty"),
        ("   ", "US", "is empty"),
        ("ZZ", None, "is not a US state/territory, Canadian province/territory or Mexican state"),
        ("Atlantis", None, "is not a US state/territory, Canadian province/territory"),
        ("Bavaria", None, "or Mexican state"),
        ("ZZ", "US", "'ZZ' is not a US state or territory"),
        ("ZZ", "CA", "'ZZ' is not a Canadian province or territory"),
        ("JA", "MX", "'JA' is not a Mexican state (Mexican states use ISO 3166-2:MX codes"),
        ("CA-NC", None, "'CA-NC' is not a Canadian province or territory"),
        ("MX-NL", None, "'MX-NL' is not a Mexican state"),
        ("US-QC", None, "'US-QC' is not a US state or territory"),
        ("North Carolinas", None, "is not a US state"),
    ],
)
def test_unknown_states_are_refused_with_the_reason(
    state: str, country: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        resolve_region(state, country)


@pytest.mark.parametrize(
    ("state", "country", "message"),
    [
        ("NC", "CA", "'NC' is North Carolina (US-NC), which is not in Canada"),
        ("US-NC", "MX", "'US-NC' is North Carolina (US-NC), which is not in Mexico"),
        ("Ontario", "US", "'Ontario' is Ontario (CA-ON), which is not in the United States"),
        ("QUE", "CA", "'QUE' is Querétaro (MX-QUE), which is not in Canada"),
        ("Mexico", "US", "'Mexico' is Estado de México (MX-MEX), which is not in the United"),
        ("Georgia", "MX", "'Georgia' is Georgia (US-GA), which is not in Mexico"),
        ("NL", "MX", "which is not in Mexico (Mexican states use ISO 3166-2:MX codes such as NLE)"),
        ("BC", "MX", "'BC' is British Columbia (CA-BC), which is not in Mexico"),
        ("Baja", "US", "Baja California Sur (MX-BCS), neither of which is in the United States"),
    ],
)
def test_a_state_that_contradicts_the_country_is_refused(
    state: str, country: str, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        resolve_region(state, country)


@pytest.mark.parametrize("country", ["FR", "United Kingdom", "U", "USAA", "MXN"])
def test_unsupported_countries_are_refused(country: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"country {country!r} is not supported")):
        resolve_region("NC", country)


@pytest.mark.parametrize(
    ("state", "code", "iso"),
    [("NC", "NC", "US-NC"), ("ontario", "ON", "CA-ON"), ("Jalisco", "JAL", "MX-JAL")],
)
def test_format_state_gives_both_a12_forms(state: str, code: str, iso: str) -> None:
    region = resolve_region(state)
    assert format_state(region, "code") == code
    assert format_state(region, "iso") == iso


def test_format_state_refuses_an_unknown_style() -> None:
    with pytest.raises(ValueError, match="'postal' is not supported"):
        format_state(resolve_region("NC"), "postal")  # type: ignore[arg-type]


def test_regions_are_hashable_values() -> None:
    assert resolve_region("nc") == resolve_region("North Carolina")
    assert len({resolve_region("nc"), resolve_region("US-NC")}) == 1
