"""normalize_plate: the one normal form of a licence plate (also Passport's A-11 wire form)."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from permitsync.domain.errors import DomainValidationError, FieldError
from permitsync.domain.plates import MAX_PLATE_LENGTH, MIN_PLATE_LENGTH, normalize_plate

WIRE_FORM = re.compile(r"[A-Z0-9]{2,10}")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ABC123", "ABC123"),
        ("abc123", "ABC123"),
        ("abc 123", "ABC123"),
        ("ABC-1234", "ABC1234"),
        ("A.B.C.1", "ABC1"),
        ("  xyz-9 8.7  ", "XYZ987"),
        ("ab\t12", "AB12"),
        ("AB\n12", "AB12"),
        ("AB\u00a012", "AB12"),  # no-break space pasted from a spreadsheet
        ("TEST123", "TEST123"),
        ("A1", "A1"),  # shortest allowed
        ("1234567890", "1234567890"),  # longest allowed
        ("12-34-56-78-90", "1234567890"),  # separators do not count towards the length
        ("00", "00"),
    ],
)
def test_good_plates_normalise_exactly(raw: str, expected: str) -> None:
    assert normalize_plate(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("- . -", "is empty"),
        ("A", "is too short"),
        ("-7-", "is too short"),
        ("ABCDEFGHIJK", "is too long"),
        ("1234 5678 901", "is too long"),
        ("ABC_123", "'_' is not allowed"),
        ("ABC/123", "'/' is not allowed"),
        ("ABC*1", "'*' is not allowed"),
        ("CAFÉ1", "'É' is not allowed"),
        ("éte12", "'é' is not allowed"),
        ("АВС123", "'А' is not allowed"),  # Cyrillic capitals that look Latin
        ("ＡＢＣ１２", "'Ａ' is not allowed"),  # full-width letters
        ("AB\u0131C", "'\u0131' is not allowed"),  # dotless i would uppercase to "I"
        ("AB\u200b12", "'\\u200b' is not allowed"),  # zero-width space is not whitespace
        ("AB٣12", "'٣' is not allowed"),  # Arabic-Indic digit
    ],
)
def test_bad_plates_are_refused_with_the_reason(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        normalize_plate(raw)


def test_length_limits_are_the_documented_ones() -> None:
    assert (MIN_PLATE_LENGTH, MAX_PLATE_LENGTH) == (2, 10)
    assert normalize_plate("A" * MAX_PLATE_LENGTH) == "A" * 10
    with pytest.raises(ValueError, match="too long"):
        normalize_plate("A" * (MAX_PLATE_LENGTH + 1))


def test_reason_reads_as_a_field_message() -> None:
    # Callers wrap the reason in a FieldError; it must stand on its own after "field: ".
    with pytest.raises(ValueError, match=r"2-10 letters or digits") as caught:
        normalize_plate("A")
    error = DomainValidationError.single("vehicles[0].plate", str(caught.value))
    assert str(error).startswith("vehicles[0].plate: is too short")
    assert error.errors == (FieldError("vehicles[0].plate", str(caught.value)),)


_plate_text = st.text(
    alphabet=st.sampled_from("abcXYZ019 -.\t"),
    min_size=0,
    max_size=16,
)


@given(st.one_of(_plate_text, st.text(max_size=14)))
def test_accepted_plates_are_in_wire_form(raw: str) -> None:
    try:
        plate = normalize_plate(raw)
    except ValueError:
        return
    assert WIRE_FORM.fullmatch(plate), plate


@given(st.one_of(_plate_text, st.text(max_size=14)))
def test_normalising_is_idempotent(raw: str) -> None:
    try:
        plate = normalize_plate(raw)
    except ValueError:
        return
    assert normalize_plate(plate) == plate


@given(
    st.text(
        alphabet=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), min_size=2, max_size=10
    )
)
def test_every_wire_form_plate_is_accepted_unchanged(plate: str) -> None:
    assert normalize_plate(plate) == plate
    assert normalize_plate(plate.lower()) == plate


def test_validation_error_keeps_every_field_error_in_order() -> None:
    errors = [
        FieldError("vehicles[0].plate", "is too short"),
        FieldError("vehicles[1].state", "'ZZ' is not a US state"),
    ]
    error = DomainValidationError(errors)
    assert error.errors == tuple(errors)
    assert (
        str(error) == "vehicles[0].plate: is too short; vehicles[1].state: 'ZZ' is not a US state"
    )


def test_validation_error_needs_at_least_one_field_error() -> None:
    with pytest.raises(ValueError, match="at least one FieldError"):
        DomainValidationError([])
