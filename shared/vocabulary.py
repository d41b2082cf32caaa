"""The codes the API accepts (TAXONOMY.md). Events carry them as plain strings."""

from __future__ import annotations

from datetime import timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")

KINDS = ("grievance", "suggestion", "accusation")
ONLINE_CHANNELS = ("web", "mobile", "wechat", "video")
STAFF_CHANNELS = ("letter", "visit", "phone", "fax")
# Registered by a grid worker on rounds (源头化解), with no petitioner behind it
PROACTIVE_CHANNELS = ("grid",)
CHANNELS = ONLINE_CHANNELS + STAFF_CHANNELS + PROACTIVE_CHANNELS

FUNCTIONS = (
    "petition_bureau",
    "discipline",
    "political_legal",
    "hrss",
    "housing",
    "natural_resources",
    "ecology",
    "agriculture",
    "urban_management",
    "transport",
    "health",
    "medical_insurance",
    "education",
    "civil_affairs",
    "market_regulation",
    "emergency",
    "public_security",
    "finance",
    "justice",
    "veterans",
    "water",
    "township",
)

CATEGORIES = (
    "wage_arrears",
    "labour_dispute",
    "social_insurance",
    "housing_quality",
    "property_management",
    "land_acquisition",
    "rural_land",
    "agriculture",
    "pollution",
    "urban_order",
    "transport",
    "health",
    "education",
    "social_assistance",
    "consumer",
    "safety_hazard",
    "public_order",
    "government_arrears",
    "veterans",
    "water",
    "misconduct",
    "litigation",
    "policy",
    "other",
)

STATUSES = (
    "received",
    "triage",
    "routed",
    "diverted",
    "linked_duplicate",
    "not_reaccepted",
    "not_accepted",
    "in_progress",
    "extended",
    "replied",
    "withdrawn",
    "under_review",
    "review_replied",
    "under_rereview",
    "closed",
    "terminated",
)

# A case in these states is at a unit or waiting for one, not yet answered: routing may move it
MOVABLE_STATUSES = ("received", "triage", "routed", "in_progress", "extended")


def county_of(region_code: str) -> str:
    """The six-digit county-level code a 6, 9 or 12 digit region code lies in."""
    return region_code[:6]


def short_region(region_code: str) -> str:
    """Shortest form that keeps the level: 12 digits -> 9 or 6 (TAXONOMY.md)."""
    code = region_code.ljust(12, "0")
    if code[6:] == "000000":
        return code[:6]
    if code[9:] == "000":
        return code[:9]
    return code
