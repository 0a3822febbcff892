"""Demo users: some reachable by SMS or push, some by e-mail only; and, in development only, two
staff accounts with a published password. Safe to run twice.

The users Barbara, Hedy and Katherine have the provider sandbox's magic test
addresses, so their notifications meet what real providers report: a bounce,
an unreachable handset, silence (see provider_sandbox/README.md).
"""

from __future__ import annotations

from orders_service.contacts import normalize_email, normalize_phone_number, search_text
from orders_service.lifecycle import StaffRole
from orders_service.models import Staff, User
from orders_service.staff import add_staff

DEV_STAFF_PASSWORD = "dev-password"  # noqa: S105 - development only; `seed` adds no account elsewhere
DEV_STAFF = [
    ("admin@example.com", "Dev Admin", StaffRole.ADMIN),
    ("support@example.com", "Dev Support", StaffRole.SUPPORT),
]

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
        email = normalize_email(entry["email"])
        phone = (
            normalize_phone_number(entry["phone_number"], default_region) if entry["phone_number"] else None
        )
        _, was_created = await User.get_or_create(
            id=entry["id"],
            defaults={
                "name": entry["name"],
                "email": email,
                "phone_number": phone,
                "search_text": search_text(entry["name"], email, phone),
                "address": entry["address"],
                "contacts": entry.get("contacts", {}),
            },
        )
        created += was_created
    return created


async def seed_demo_staff() -> int:
    """The development staff accounts that are missing; return how many were created."""
    created = 0
    for email, name, role in DEV_STAFF:
        if not await Staff.exists(email=email):
            await add_staff(email=email, name=name, role=role, password=DEV_STAFF_PASSWORD)
            created += 1
    return created
