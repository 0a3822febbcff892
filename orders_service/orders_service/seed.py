"""Demo users for development: some reachable by SMS or push, some by e-mail only. Safe to run twice.

The last three use the provider sandbox's magic test addresses, so their
notifications meet what real providers report: a bounce, an unreachable
handset, silence (see provider_sandbox/README.md).
"""

from __future__ import annotations

from orders_service.contacts import normalize_email, normalize_phone_number
from orders_service.models import User

DEMO_USERS = [
    {
        "id": "u_ada",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone_number": "07451 277972",
        "address": {
            "address_lines": ["12 Example Street"],
            "city": "London",
            "postcode": "N1 9GU",
            "country": "GB",
        },
    },
    {
        "id": "u_alan",
        "name": "Alan Turing",
        "email": "alan@example.com",
        "phone_number": "+44 7911 123456",
        "contacts": {"push_topic": "alan-kit-updates"},
        "address": {
            "address_lines": ["2 Bletchley Road"],
            "city": "Milton Keynes",
            "postcode": "MK3 6EB",
            "country": "GB",
        },
    },
    {
        "id": "u_grace",
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "phone_number": None,
        "address": {
            "address_lines": ["1 Navy Yard"],
            "city": "Arlington",
            "postcode": "22202",
            "country": "US",
        },
    },
    {
        "id": "u_rosalind",
        "name": "Rosalind Franklin",
        "email": "rosalind@example.com",
        "phone_number": None,
        "address": {
            "address_lines": ["King's College, Strand"],
            "city": "London",
            "postcode": "WC2R 2LS",
            "country": "GB",
        },
    },
    {
        "id": "u_barbara",
        "name": "Barbara Liskov",
        "email": "barbara+bounce@example.com",  # bounces
        "phone_number": "07451 271234",
        "address": {
            "address_lines": ["32 Vassar Street"],
            "city": "Cambridge",
            "postcode": "02139",
            "country": "US",
        },
    },
    {
        "id": "u_hedy",
        "name": "Hedy Lamarr",
        "email": "hedy@example.com",
        "phone_number": "07451 270001",  # undelivered
        "address": {
            "address_lines": ["1 Frequency Lane"],
            "city": "Vienna",
            "postcode": "1010",
            "country": "AT",
        },
    },
    {
        "id": "u_katherine",
        "name": "Katherine Johnson",
        "email": "katherine+noreceipt@example.com",  # never gets a receipt
        "phone_number": "07451 270002",  # never gets a receipt
        "address": {
            "address_lines": ["1 Langley Way"],
            "city": "Hampton",
            "postcode": "23681",
            "country": "US",
        },
    },
]


async def seed_demo_users(default_region: str) -> int:
    """Create the demo users that are missing; return how many were created."""
    created = 0
    for entry in DEMO_USERS:
        phone = entry["phone_number"]
        _, was_created = await User.get_or_create(
            id=entry["id"],
            defaults={
                "name": entry["name"],
                "email": normalize_email(entry["email"]),
                "phone_number": normalize_phone_number(phone, default_region) if phone else None,
                "address": entry["address"],
                "contacts": entry.get("contacts", {}),
            },
        )
        created += was_created
    return created
