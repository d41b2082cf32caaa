"""Which category a petition raises and, for 涉法涉诉, which legal channel it belongs to.

Weighted phrase rules rather than a model, so that a clerk can read *why* a petition went where
it went (``matched``) and an operator can retune ``intake/data/categories.json`` without a
release. The file is read once; ``classify`` itself does no I/O.

Decisions worth knowing (the JSON carries the numbers):

* A phrase counts once per field; a title hit is worth ``title_weight`` times a content hit,
  because the petitioner's own summary is the best evidence of what they want.
* 诉访分离: a matter already in (or through) a court, arbitration or administrative review is
  diverted, whatever its subject, once its litigation score reaches ``litigation_override``.
  A mere mention of a legal route ("我打算去申请劳动仲裁", "没钱打官司") is not that, so
  litigation phrases are ignored when a hedge (想, 打算, 让我, 没钱 ...) stands shortly before
  them in the same clause, or a question mark shortly after.
* ``kind`` is evidence too: a suggestion adds a bias to ``policy`` and an accusation to
  ``misconduct``. ``policy`` (政策建议) is for proposals about rules and policy, or spanning
  several fields. A suggestion plainly inside one competent unit's field (a bus stop, a broken
  street lamp) goes to that topic so that the unit that can act on it studies it; to do so the
  topic must beat policy's score *including* the bias, i.e. score strongly, and words of a
  concrete repair (修复, 坏了) count against policy. A suggestion with no topic at all is a
  policy proposal, not ``other``, just as an accusation with no topic is misconduct. An
  accusation against a polluting factory rather than an official keeps its topic the same way.
* Below ``min_score`` the phrases are not trusted: ``intake.bayes`` gives a second opinion
  (``matched == ("naive-bayes",)``), and if it has none the matter is ``other`` (triage).
* Ties go to the higher title score, then to the category listed first in the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Container
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from intake.bayes import second_opinion
from shared.vocabulary import CATEGORIES

DATA_PACKAGE = "intake.data"
DATA_FILE = "categories.json"
_CLAUSE_ENDS = frozenset("，。！？；：,.!?;:\n")


@dataclass(frozen=True)
class Classification:
    category: str  # one of shared.vocabulary.CATEGORIES
    litigation: bool  # 涉法涉诉: diverted to the legal channel instead of handled as a petition
    legal_channel: str | None  # code of the legal channel, for litigation only
    legal_channel_name: str | None  # its Chinese name, e.g. "向人民法院申请强制执行"
    score: float  # the winning score; for a fallback to other, the best one that fell short
    matched: tuple[str, ...]  # the phrases that decided it, strongest first


Entry = tuple[str, float, int]  # (category or channel, weight, position in its list)


@dataclass(frozen=True)
class Rules:
    title_weight: float
    content_weight: float
    min_score: float
    litigation_override: float
    kind_bias: dict[str, dict[str, float]]
    category_phrases: dict[str, tuple[Entry, ...]]  # phrase -> the categories it counts for
    channel_names: dict[str, str]
    channel_phrases: dict[str, tuple[Entry, ...]]  # phrase -> the legal channels it counts for
    default_channel: str
    hedges_before: tuple[str, ...]
    hedges_after: tuple[str, ...]
    hedge_window: int
    # A phrase's first two characters (or its only one) -> phrases: a petition is a few hundred
    # characters and the rules some 1,600 phrases, so look up what the text holds, not the reverse.
    by_gram: dict[str, tuple[str, ...]]


def _by_phrase(groups: dict[str, Any]) -> dict[str, tuple[Entry, ...]]:
    table: dict[str, list[Entry]] = {}
    for group, body in groups.items():
        for order, entry in enumerate(body["phrases"]):
            table.setdefault(entry["phrase"], []).append((group, float(entry["weight"]), order))
    return {phrase: tuple(entries) for phrase, entries in table.items()}


def parse_rules(data: dict[str, Any]) -> Rules:
    """Rules from the JSON document; refuses one that could return an unknown code."""
    if list(data["categories"]) != list(CATEGORIES):
        raise ValueError("categories.json must list exactly shared.vocabulary.CATEGORIES, in order")
    if data["default_legal_channel"] not in data["legal_channels"]:
        raise ValueError("default_legal_channel must be one of legal_channels")
    categories, channels = _by_phrase(data["categories"]), _by_phrase(data["legal_channels"])
    by_gram: dict[str, list[str]] = {}
    for phrase in {*categories, *channels}:
        by_gram.setdefault(phrase[:2], []).append(phrase)
    hedges = data["hedges"]
    return Rules(
        title_weight=float(data["title_weight"]),
        content_weight=float(data["content_weight"]),
        min_score=float(data["min_score"]),
        litigation_override=float(data["litigation_override"]),
        kind_bias={k: {c: float(w) for c, w in v.items()} for k, v in data["kind_bias"].items()},
        category_phrases=categories,
        channel_names={c: v["name"] for c, v in data["legal_channels"].items()},
        channel_phrases=channels,
        default_channel=data["default_legal_channel"],
        hedges_before=tuple(hedges["before"]),
        hedges_after=tuple(hedges["after"]),
        hedge_window=int(hedges["window"]),
        by_gram={gram: tuple(sorted(phrases)) for gram, phrases in by_gram.items()},
    )


@cache
def rules() -> Rules:
    """The packaged rules, read once per process."""
    text = resources.files(DATA_PACKAGE).joinpath(DATA_FILE).read_text(encoding="utf-8")
    return parse_rules(json.loads(text))


def _present(text: str, r: Rules) -> list[str]:
    grams = {text[i : i + 2] for i in range(len(text))} | set(text)
    return [p for g in grams if g in r.by_gram for p in r.by_gram[g] if p in text]


def _asserted(text: str, phrase: str, r: Rules) -> bool:
    """True when some occurrence of ``phrase`` is stated, not hedged or asked about."""
    start = text.find(phrase)
    while start >= 0:
        lo = start
        while lo > 0 and start - lo < r.hedge_window and text[lo - 1] not in _CLAUSE_ENDS:
            lo -= 1
        after = text[start + len(phrase) : start + len(phrase) + 3]
        if not any(h in text[lo:start] for h in r.hedges_before) and not any(
            h in after for h in r.hedges_after
        ):
            return True
        start = text.find(phrase, start + 1)
    return False


Score = tuple[float, float, dict[str, tuple[float, int]]]  # total, title part, phrase -> points
Fields = tuple[tuple[str, list[str]], tuple[str, list[str]]]  # (title, its phrases), (content, ..)
_NONE: Score = (0.0, 0.0, {})


def _tally(
    table: dict[str, tuple[Entry, ...]], fields: Fields, r: Rules, hedged: Container[str]
) -> dict[str, Score]:
    tally: dict[str, Score] = {}
    for field, (text, present) in enumerate(fields):
        factor = r.title_weight if field == 0 else r.content_weight
        for phrase in present:
            for group, weight, order in table.get(phrase, ()):
                if group in hedged and not _asserted(text, phrase, r):
                    continue
                # a fresh default, not _NONE: hits is mutated below
                total, title_part, hits = tally.get(group, (0.0, 0.0, {}))
                points = weight * factor
                hits[phrase] = (hits.get(phrase, (0.0, order))[0] + points, order)
                tally[group] = (total + points, title_part + (points if field == 0 else 0), hits)
    return tally


def classify(title: str, content: str, kind: str = "grievance") -> Classification:
    r = rules()
    title, content = title.strip(), content.strip()
    fields = ((title, _present(title, r)), (content, _present(content, r)))
    tally = _tally(r.category_phrases, fields, r, hedged=("litigation",))
    for category, points in r.kind_bias.get(kind, {}).items():
        total, title_part, hits = tally.get(category, _NONE)
        tally[category] = (total + points, title_part, {**hits, f"kind:{kind}": (points, -1)})
    # min() keeps the first of equals, so ties fall to CATEGORIES order
    best = min(CATEGORIES, key=lambda c: (-tally.get(c, _NONE)[0], -tally.get(c, _NONE)[1]))
    if tally.get("litigation", _NONE)[0] >= r.litigation_override:
        best = "litigation"
    score, _, hits = tally.get(best, _NONE)
    if score < r.min_score:
        guess = second_opinion(title, content)
        if guess is None:
            return Classification("other", False, None, None, score, ())
        return Classification(guess, False, None, None, score, ("naive-bayes",))
    positive = sorted((-s, order, p) for p, (s, order) in hits.items() if s > 0)
    matched = tuple(p for _, _, p in positive)
    if best != "litigation":
        return Classification(best, False, None, None, score, matched)
    channel = _channel(fields, r)
    return Classification("litigation", True, channel, r.channel_names[channel], score, matched)


def _channel(fields: Fields, r: Rules) -> str:
    """The legal channel whose phrases score highest; a plain court case when none do."""
    tally = _tally(r.channel_phrases, fields, r, hedged=r.channel_names)
    best = min(r.channel_names, key=lambda c: -tally.get(c, _NONE)[0])
    return best if tally.get(best, _NONE)[0] > 0 else r.default_channel
