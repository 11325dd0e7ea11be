"""`Redactor`: secret values never survive into what people read."""

from __future__ import annotations

from treadle.runtime.redaction import REDACTED, Redactor


def test_secret_strings_are_replaced_inside_larger_strings_and_keys() -> None:
    redactor = Redactor({"token": "abcd1234", "client": {"secret": "zyxw-9876"}})
    value = {"auth": "Bearer abcd1234", "abcd1234": ["zyxw-9876", 3]}
    assert redactor.value(value) == {"auth": f"Bearer {REDACTED}", REDACTED: [REDACTED, 3]}


def test_longer_secrets_are_replaced_before_shorter_ones_they_contain() -> None:
    redactor = Redactor({"short": "pass", "long": "password-1"})
    assert redactor.text("password-1 and pass") == f"{REDACTED} and {REDACTED}"


def test_short_values_are_not_treated_as_secrets() -> None:
    redactor = Redactor({"flag": "no", "pin": 7})
    assert not redactor
    assert redactor.value({"answer": "no", "n": 7}) == {"answer": "no", "n": 7}


def test_numeric_secrets_are_redacted_only_when_equal() -> None:
    redactor = Redactor({"pin": 123456})
    assert redactor.value([123456, 1234567, "pin 123456"]) == [REDACTED, 1234567, f"pin {REDACTED}"]
