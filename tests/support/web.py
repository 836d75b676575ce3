"""Helpers of the dashboard tests."""

from __future__ import annotations

from argon2 import PasswordHasher

#: argon2id with small costs: the tests check behaviour, not the production parameters.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
