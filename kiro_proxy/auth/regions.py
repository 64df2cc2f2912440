"""AWS region names from login forms and imported credentials (pure).

The region is pasted into upstream URLs (`https://oidc.{region}.amazonaws.com`), so a value
like `evil.example/#` would send the refresh token and client secret to another host. Only
names shaped like AWS's (`us-east-1`, `ap-southeast-2`, `us-gov-west-1`) are accepted.
"""

from __future__ import annotations

import re

from kiro_proxy.auth.errors import CredentialFormatError

DEFAULT_REGION = "us-east-1"
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")


def checked_region(value: str | None) -> str:
    """The region, or DEFAULT_REGION when none is given; CredentialFormatError if malformed."""
    region = (value or "").strip() or DEFAULT_REGION
    if not _REGION.fullmatch(region):
        shown = region if len(region) <= 40 else region[:40] + "…"
        raise CredentialFormatError(
            f"{shown!r} is not an AWS region: use a name like us-east-1 or eu-west-1",
            code="invalid_region",
        )
    return region
