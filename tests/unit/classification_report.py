"""Per-category precision, recall and accuracy of intake.classify on the labelled petitions.

Run: ``.venv/bin/python -m tests.unit.classification_report``. A category's accuracy is the share
of its petitions classified as it (its recall); precision is the share of the petitions put in it
that belong there. ``dev.jsonl`` is what the rules
were tuned on; ``holdout.jsonl`` was written afterwards and never used for tuning, so its numbers
are the honest estimate.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from intake.classify import classify
from shared.vocabulary import CATEGORIES

DATA = Path(__file__).resolve().parents[1] / "data" / "classification"
LABELLED = Path(__file__).resolve().parents[2] / "intake" / "data" / "labelled.jsonl"
SETS = ("dev", "holdout")


@dataclass(frozen=True)
class Report:
    name: str
    total: int
    correct: int
    support: Counter[str]  # petitions labelled with the category
    predicted: Counter[str]  # petitions the classifier put in it
    hits: Counter[str]  # labelled and predicted alike
    channel_total: int  # litigation petitions with a labelled channel, classified litigation
    channel_correct: int
    errors: tuple[tuple[str, str, str, str], ...]  # (id, expected, got, title)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def recall(self, category: str) -> float:
        """Share of the category's petitions classified as it (its per-category accuracy)."""
        return self.hits[category] / self.support[category] if self.support[category] else 0.0

    def precision(self, category: str) -> float:
        n = self.predicted[category]
        return self.hits[category] / n if n else 0.0


def load(name: str) -> list[dict[str, str]]:
    # the development set ships with intake: the Bayes fallback is trained on it
    path = LABELLED if name == "dev" else DATA / f"{name}.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def evaluate(name: str) -> Report:
    support: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    channel_total = channel_correct = 0
    errors = []
    rows = load(name)
    for row in rows:
        got = classify(row["title"], row["content"], row["kind"])
        support[row["category"]] += 1
        predicted[got.category] += 1
        if got.category == row["category"]:
            hits[got.category] += 1
        else:
            errors.append((row["id"], row["category"], got.category, row["title"]))
        if row.get("legal_channel") and got.litigation:
            channel_total += 1
            channel_correct += got.legal_channel == row["legal_channel"]
    return Report(
        name,
        len(rows),
        sum(hits.values()),
        support,
        predicted,
        hits,
        channel_total,
        channel_correct,
        tuple(errors),
    )


def table(report: Report) -> str:
    lines = [
        f"{report.name}: {report.correct}/{report.total} correct, accuracy {report.accuracy:.3f}; "
        f"legal channel {report.channel_correct}/{report.channel_total}",
        f"{'category':<20} {'n':>4} {'predicted':>9} {'precision':>9} {'recall(=accuracy)':>17}",
    ]
    for category in CATEGORIES:
        lines.append(
            f"{category:<20} {report.support[category]:>4} {report.predicted[category]:>9} "
            f"{report.precision(category):>9.2f} {report.recall(category):>17.2f}"
        )
    return "\n".join(lines)


def main() -> None:
    for name in SETS:
        report = evaluate(name)
        print(table(report))
        for id_, expected, got, title in report.errors:
            print(f"  miss {id_}: {expected} -> {got}  ({title})")
        print()


if __name__ == "__main__":
    main()
