"""Slugs: the stable, URL-safe names resources are referenced by within an owner scope."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_SLUG_LENGTH", "SLUG_PATTERN", "is_slug", "slugify"]

MAX_SLUG_LENGTH = 63
SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(name: str, max_length: int = MAX_SLUG_LENGTH) -> str:
    """Lowercase `a-z0-9-` from a name: "Order Fulfillment (v2)" → "order-fulfillment-v2".

    Accents are folded ("Café" → "cafe"); the result may be empty for names with no
    letter or digit at all, which callers must refuse.
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _NOT_SLUG.sub("-", folded.lower()).strip("-")
    return slug[:max_length].rstrip("-")


def is_slug(text: str, max_length: int = MAX_SLUG_LENGTH) -> bool:
    """Whether `text` is a well-formed slug of at most `max_length` characters."""
    return len(text) <= max_length and SLUG_PATTERN.match(text) is not None
