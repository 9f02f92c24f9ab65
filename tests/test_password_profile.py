"""Passwords are argon2id at the library's recommended parameters unless ASSOC_PASSWORD_PROFILE names another
of argon2's profiles (the suite runs at CHEAPEST); every profile verifies the others' hashes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher, profiles

from assoc_ledger.auth import services


@pytest.fixture(autouse=True)
def fresh_hasher() -> Iterator[None]:
    services._hasher.cache_clear()
    yield
    services._hasher.cache_clear()


def test_the_default_is_the_librarys_recommendation_and_profiles_verify_each_other(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSOC_PASSWORD_PROFILE", raising=False)
    default = services._hasher()
    recommended = PasswordHasher()
    assert (default.time_cost, default.memory_cost, default.parallelism) == (
        recommended.time_cost, recommended.memory_cost, recommended.parallelism)
    strong = services.hash_password("correct-horse-battery")

    services._hasher.cache_clear()
    monkeypatch.setenv("ASSOC_PASSWORD_PROFILE", "CHEAPEST")
    cheap = services._hasher()
    assert cheap.memory_cost == profiles.CHEAPEST.memory_cost < default.memory_cost
    assert cheap.verify(strong, "correct-horse-battery")
    assert default.verify(services.hash_password("correct-horse-battery"), "correct-horse-battery")
    assert "$argon2id$" in strong


def test_an_unknown_profile_stops_the_program(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSOC_PASSWORD_PROFILE", "FAST")
    with pytest.raises(SystemExit, match="FAST"):
        services._hasher()
