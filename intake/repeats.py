"""Repeat and collective petitions, as pure functions.

Texts are compared by the Jaccard similarity of their character trigrams (Chinese has no
spaces; trigrams survive reordered clauses and small edits). The same petitioner's earlier
petitions are few, so they are compared exactly. Collective petitions (many petitioners, one
matter) are searched among all recent petitions of a county: MinHash signatures split into
bands (locality-sensitive hashing) find candidates with one indexed query, and every candidate
is then checked exactly, so the index never decides on its own."""

from __future__ import annotations

import hashlib
import re

from datasketch import MinHash

NUM_PERM, BANDS = 64, 16  # 16 bands of 4 rows: candidates from Jaccard ~0.5 up
ROWS = NUM_PERM // BANDS
OPEN = frozenset(
    {
        "received",
        "triage",
        "routed",
        "in_progress",
        "extended",
        "replied",
        "under_review",
        "review_replied",
        "under_rereview",
    }
)
CONCLUDED = frozenset({"closed", "terminated"})

_NOISE = re.compile(r"[\s，。、；：！？,.;:!?“”\"'（）()【】\[\]《》<>—-]+")


def shingles(text: str, n: int = 3) -> set[str]:
    clean = _NOISE.sub("", text)
    if len(clean) <= n:
        return {clean} if clean else set()
    return {clean[i : i + n] for i in range(len(clean) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


# Drawing the 64 random permutations is most of the cost of a MinHash: draw them once.
_TEMPLATE = MinHash(num_perm=NUM_PERM, seed=2026)


def bands(grams: set[str]) -> list[tuple[int, int]]:
    """(band number, band hash) pairs of a MinHash signature; equal texts share all."""
    m = MinHash(
        num_perm=NUM_PERM, seed=2026, permutations=_TEMPLATE.permutations, scheme=_TEMPLATE.scheme
    )
    m.update_batch([g.encode() for g in sorted(grams)])
    values = [int(v) for v in m.hashvalues]
    out = []
    for b in range(BANDS):
        chunk = ",".join(map(str, values[b * ROWS : (b + 1) * ROWS])).encode()
        out.append(
            (b, int.from_bytes(hashlib.blake2b(chunk, digest_size=8).digest(), "big", signed=True))
        )
    return out


def repeat_outcome(earlier_status: str) -> str | None:
    """What a new petition on the same matter by the same petitioner becomes (Art. 36, 37):
    linked to the earlier case while it is open; not re-accepted once it is concluded; a new
    case when the earlier one ended otherwise (withdrawn, not accepted, diverted)."""
    if earlier_status in OPEN:
        return "linked_duplicate"
    if earlier_status in CONCLUDED:
        return "not_reaccepted"
    return None
