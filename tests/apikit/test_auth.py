"""Bearer tokens: every configured token is recognised, and nothing else."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from apikit.auth import Principal, TokenRegistry

ADMIN = Principal("admin-1", frozenset({"admin"}))
SUPPORT = Principal("support-1", frozenset({"support"}))
REGISTRY = TokenRegistry([("admin-secret", ADMIN), ("support-secret", SUPPORT)])


def test_each_token_maps_to_its_principal():
    assert REGISTRY.authenticate("admin-secret") is ADMIN
    assert REGISTRY.authenticate("support-secret") is SUPPORT


@given(st.text(max_size=64).filter(lambda t: t not in {"admin-secret", "support-secret"}))
def test_any_other_string_is_unknown(presented):
    assert REGISTRY.authenticate(presented) is None


def test_an_empty_registry_knows_no_one():
    assert TokenRegistry([]).authenticate("") is None
