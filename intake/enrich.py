"""What intake adds to a submission: its category (when the petitioner gave none, or a
litigation-related matter hides behind the one given) and its region."""

from __future__ import annotations

from dataclasses import dataclass

from intake.classify import classify
from intake.schemas import PetitionCreate
from shared.errors import Invalid
from shared.regions import AbolishedRegion, RegionDirectory, UnknownRegion


@dataclass(frozen=True)
class Category:
    category: str
    source: str
    matched: tuple[str, ...] = ()
    legal_channel: str | None = None
    legal_channel_name: str | None = None


def categorize(body: PetitionCreate, default: str | None = None) -> Category:
    """The petitioner's category stands, except that a matter the classifier finds to be
    litigation-related is diverted whatever it was filed under (诉访分离). Without one, a
    themed channel's ``default`` category applies (source ``channel``), with the same
    exception."""
    found = classify(body.title, body.content, body.kind)
    if not body.category and default and not found.litigation:
        return Category(default, "channel")
    if body.category and not (found.litigation and body.category != "litigation"):
        if body.category == "litigation":
            return Category(
                "litigation",
                "petitioner",
                found.matched,
                found.legal_channel,
                found.legal_channel_name,
            )
        return Category(body.category, "petitioner")
    return Category(
        found.category, "classifier", found.matched, found.legal_channel, found.legal_channel_name
    )


def locate(body: PetitionCreate, directory: RegionDirectory | None = None) -> str:
    """The region where the matter arose, in its shortest code form (``110107011``).

    A given code must exist and be current; an address refines it down to the township when
    the text allows. Without a code the address decides, and a name that several regions
    bear (朝阳区) is never guessed: the answer lists the candidates."""
    directory = directory or RegionDirectory.default()
    code, address = body.location.region_code, body.location.address
    if code:
        try:
            region = directory.check(code)
        except AbolishedRegion as gone:
            names = ", ".join(_label(directory, c) for c in gone.successors) or "none recorded"
            raise Invalid(
                "location.region_code",
                f"{code} was abolished ({gone.description}); use its successor: {names}",
            ) from gone
        except UnknownRegion as unknown:
            raise Invalid("location.region_code", f"no region has the code {code}") from unknown
        if address:
            found = directory.resolve(address, within=region.code)
            if (
                found.status == "resolved"
                and found.region
                and len(found.region.short) > len(region.short)
            ):
                region = found.region
        return region.short
    if not address:
        raise Invalid("location", "give location.region_code or location.address")
    found = directory.resolve(address)
    if found.status == "resolved" and found.region:
        return found.region.short
    if found.status == "ambiguous":
        candidates = [
            {"region_code": r.short, "name": _label(directory, r.code)}
            for r in found.candidates[:20]
        ]
        raise Invalid(
            "location.address",
            f"「{found.matched}」 names several regions; add the "
            "city or county, or give location.region_code",
            candidates=candidates,
        )
    raise Invalid(
        "location.address",
        "no province, city, county or township was found in the "
        "address; name them, or give location.region_code",
    )


def locate_report(
    body: PetitionCreate, directory: RegionDirectory | None = None
) -> tuple[str, str | None]:
    """A grid report's township, and its village when the code names one. The directory
    stops at townships: a 12-digit village code is accepted when its first 9 digits are a
    known township; the petition is located (and routed) there and keeps the village code."""
    directory = directory or RegionDirectory.default()
    code = body.location.region_code or ""
    village = code if len(code) == 12 and code[9:] != "000" else None
    if village:
        township = directory.get(village[:9])
        if township is None or township.level != "township":
            raise Invalid(
                "location.region_code",
                f"{village} is not a village of a known township: no township has the code "
                f"{village[:9]}",
            )
        body = body.model_copy(
            update={"location": body.location.model_copy(update={"region_code": village[:9]})}
        )
    region = locate(body, directory)
    if len(region) != 9:
        raise Invalid(
            "location.region_code",
            f"{code} is not a township or village; a grid report names its township "
            "(9 digits) or village (12 digits)",
        )
    return region, village


def _label(directory: RegionDirectory, code: str) -> str:
    """``北京市朝阳区 (110105)``."""
    chain = [r.name for r in directory.ancestors(code)]
    region = directory.get(code)
    names = "".join(chain + ([region.name] if region and region.name not in chain else []))
    return f"{names} ({region.short if region else code})"
