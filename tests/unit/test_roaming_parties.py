"""Parties as an admin types them (invitation form, ``cpo ocpi invite --party``), read into OCPI codes."""

from __future__ import annotations

import pytest

from cpo.errors import InvalidInput
from cpo.roaming.service import parties_from_text


def test_parties_are_read_with_any_separator_and_upper_cased() -> None:
    assert parties_from_text(" NL*TNM, de/abc;BE-X1Y  NLHUB ") == [
        ("NL", "TNM"), ("DE", "ABC"), ("BE", "X1Y"), ("NL", "HUB")]  # fmt: skip
    assert parties_from_text("") == []


@pytest.mark.parametrize("typed", ["NLD*AB", "N*TNM", "NL*TN", "NL*TNMX", "NLTN", "12*TNM", "NL*T N", "NL*TÑM"])
def test_a_party_that_is_not_two_letters_and_three_characters_is_refused(typed: str) -> None:
    with pytest.raises(InvalidInput, match="country code"):
        parties_from_text(typed)
