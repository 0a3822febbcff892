"""Property-based checks of input validation: any input is either accepted cleanly or refused cleanly."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from orders_service.contacts import normalize_email, normalize_phone_number
from orders_service.schemas import COUNTRY_CODES, PlaceOrder, ShippingInfo

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
PRINTABLE = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=60
).filter(lambda s: s.strip())


@given(JSON)
def test_any_json_is_either_an_order_or_a_validation_error(data):
    try:
        order = PlaceOrder.model_validate(data)
    except ValidationError:
        return
    assert PlaceOrder.model_validate(order.model_dump(mode="json")) == order


@given(
    st.fixed_dictionaries(
        {
            "recipient_name": PRINTABLE,
            "address_lines": st.lists(PRINTABLE, min_size=1, max_size=4),
            "city": PRINTABLE,
            "postcode": st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9 -]{0,9}[A-Za-z0-9]\Z"),
            "country": st.sampled_from(COUNTRY_CODES).map(lambda code: code.lower()),
        }
    )
)
def test_well_formed_shipping_info_is_accepted_and_normalised(shipping):
    parsed = ShippingInfo.model_validate(shipping)

    assert parsed.country == shipping["country"].upper()
    assert parsed.city == shipping["city"].strip()


@given(PRINTABLE, st.characters(min_codepoint=0, max_codepoint=0x1F))
def test_control_characters_in_text_are_refused(prefix, control):
    shipping = {
        "recipient_name": f"{prefix}{control}x",
        "address_lines": ["1 Street"],
        "city": "London",
        "postcode": "N1 9GU",
        "country": "GB",
    }
    with pytest.raises(ValidationError):
        ShippingInfo.model_validate(shipping)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)))
def test_every_regions_example_mobile_number_normalises_to_e164(region):
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)

    e164 = normalize_phone_number(national, region)

    assert e164 == phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    assert normalize_phone_number(e164, "GB") == e164


@given(st.text(max_size=30))
def test_any_text_is_an_e164_number_or_a_value_error(raw):
    try:
        e164 = normalize_phone_number(raw, "GB")
    except ValueError:
        return
    assert e164.startswith("+")
    assert e164[1:].isdigit()


@given(st.text(max_size=40))
def test_any_text_is_an_email_address_or_a_value_error(raw):
    try:
        address = normalize_email(raw)
    except ValueError:
        return
    assert "@" in address
