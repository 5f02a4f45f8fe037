"""The PBX's password rule (core/pbx/password.py) and the passwords the product generates."""

from __future__ import annotations

from core.pbx.password import generate_password, problems


def test_a_generated_password_meets_the_rule_without_the_number_or_the_names() -> None:
    for _ in range(2000):
        password = generate_password(number="1001", names=("Ann", "Lee"))
        assert len(password) == 20
        assert problems(password, number="1001", names=("Ann", "Lee")) == []


def test_the_rule_refuses_a_run_of_digits_and_the_users_own_name() -> None:
    assert problems("Abcdef1234x", number="1001") == [
        "must not contain four consecutive digits (like 1234 or 9876)"]
    assert problems("Ann7x9Qrstuv", number="1001", names=("ann",)) == [
        "must not contain your first name or last name"]
