"""Validating and normalising how we reach a user."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email


def normalize_phone_number(raw: str, default_region: str) -> str:
    """E.164 form of `raw` (national numbers read in `default_region`); ValueError if invalid."""
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc._msg}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    """The address with its domain normalised; ValueError if it cannot receive mail."""
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


def digits_of(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def search_text(name: str, email: str, phone_number: str | None) -> str:
    """What `GET /users/?q=` matches against: lower-case name and e-mail, and the phone's digits.

    Kept in one column so one trigram index on PostgreSQL serves every kind of search.
    """
    return " ".join(part for part in (name.lower(), email.lower(), digits_of(phone_number or "")) if part)
