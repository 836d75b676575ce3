"""Names that Offstreet's setup guide prescribes for a company's integration."""

from __future__ import annotations

import unicodedata

__all__ = ["integration_name"]

# Latin letters that Unicode does not decompose into a base letter plus marks.
_TRANSLITERATIONS = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "þ": "th",
        "Þ": "TH",
        "\u0131": "i",  # dotless i
    }
)


def _capitals_and_digits(text: str) -> str:
    """ASCII capitals and digits of ``text``: accents dropped, everything else removed."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_TRANSLITERATIONS))
    return "".join(char.upper() for char in decomposed if char.isascii() and char.isalnum())


def integration_name(company_name: str, provider: str = "PASSPORT") -> str:
    """The integration's name: the provider then the company name, capitals and digits only.

    ``"University"`` gives ``"PASSPORTUNIVERSITY"``; ``"St. Mary's Hospital"`` gives
    ``"PASSPORTSTMARYSHOSPITAL"``. Accented Latin letters become plain ones (``é`` -> ``E``,
    ``ß`` -> ``SS``); characters with no ASCII form (Cyrillic, CJK, emoji) are dropped.
    Raise ``ValueError`` when the company name (or the provider) has no letter or digit left.
    """
    company = _capitals_and_digits(company_name)
    if not company:
        raise ValueError(
            f"company name {company_name!r} has no letters or digits to build an "
            "integration name from"
        )
    prefix = _capitals_and_digits(provider)
    if not prefix:
        raise ValueError(f"provider {provider!r} has no letters or digits")
    return prefix + company
