"""What intake adds to a submission: its category (when the petitioner gave none, or a
litigation-related matter hides behind the one given) and its region."""

from __future__ import annotations

from dataclasses import dataclass

from intake.classify import classify
from intake.schemas import PetitionCreate


@dataclass(frozen=True)
class Category:
    category: str
    source: str
    matched: tuple[str, ...] = ()
    legal_channel: str | None = None
    legal_channel_name: str | None = None


def categorize(body: PetitionCreate) -> Category:
    """The petitioner's category stands, except that a matter the classifier finds to be
    litigation-related is diverted whatever it was filed under (诉访分离)."""
    found = classify(body.title, body.content, body.kind)
    if body.category and not (found.litigation and body.category != "litigation"):
        if body.category == "litigation":
            return Category("litigation", "petitioner", found.matched, found.legal_channel,
                            found.legal_channel_name)
        return Category(body.category, "petitioner")
    return Category(found.category, "classifier", found.matched, found.legal_channel,
                    found.legal_channel_name)


def locate(body: PetitionCreate) -> str:
    return body.location.region_code or ""
