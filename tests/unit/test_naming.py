"""integration_name: PASSPORT + the company name in capitals, letters and digits only."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from permitsync.domain.naming import integration_name


@pytest.mark.parametrize(
    ("company", "expected"),
    [
        ("University", "PASSPORTUNIVERSITY"),
        ("St. Mary's Hospital", "PASSPORTSTMARYSHOSPITAL"),
        ("City of Raleigh", "PASSPORTCITYOFRALEIGH"),
        ("  acme   parking  ", "PASSPORTACMEPARKING"),
        ("Lot-42 & Co.", "PASSPORTLOT42CO"),
        ("Université de Montréal", "PASSPORTUNIVERSITEDEMONTREAL"),
        ("Estacionamientos Peñón", "PASSPORTESTACIONAMIENTOSPENON"),
        ("Straße Parken", "PASSPORTSTRASSEPARKEN"),
        ("Ærø Øresund Łódź", "PASSPORTAEROORESUNDLODZ"),
        ("Café Москва", "PASSPORTCAFE"),  # no ASCII form for Cyrillic: dropped
        ("ＡＢＣ Garage", "PASSPORTABCGARAGE"),  # full-width letters fold to ASCII
        ("7-Eleven", "PASSPORT7ELEVEN"),
        ("2024", "PASSPORT2024"),
    ],
)
def test_company_names_become_integration_names(company: str, expected: str) -> None:
    assert integration_name(company) == expected


def test_the_provider_is_the_prefix() -> None:
    assert integration_name("University", provider="PASSPORT") == "PASSPORTUNIVERSITY"
    assert integration_name("University", provider="t2 systems") == "T2SYSTEMSUNIVERSITY"


@pytest.mark.parametrize("company", ["", "   ", "...", "&-'", "Москва", "東京", "🚗🚗"])
def test_a_name_without_letters_or_digits_is_refused(company: str) -> None:
    with pytest.raises(ValueError, match="has no letters or digits"):
        integration_name(company)


def test_a_provider_without_letters_or_digits_is_refused() -> None:
    with pytest.raises(ValueError, match="provider '--' has no letters or digits"):
        integration_name("University", provider="--")


@given(st.text(max_size=40))
def test_names_are_always_capitals_and_digits_after_the_prefix(company: str) -> None:
    try:
        name = integration_name(company)
    except ValueError:
        assert not any(char.isascii() and char.isalnum() for char in company)
        return
    assert re.fullmatch(r"PASSPORT[A-Z0-9]+", name), name
    assert integration_name(name.removeprefix("PASSPORT")) == name
