"""Who may read which analytics, the period of a request, and CSV answers."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from evaluation.scorecard import NATIONAL, cst_day, region_key
from shared.auth import Principal, require_role
from shared.errors import Forbidden, Invalid
from shared.regions import RegionDirectory, scope_prefix, within

LONGEST_PERIOD_DAYS = 3660


def unit_region(unit_id: str) -> str:
    """The region a unit id belongs to: ``110107:hrss`` -> ``110107``."""
    return unit_id.split(":", 1)[0]


@dataclass(frozen=True)
class Reader:
    principal: Principal

    @property
    def limit(self) -> str | None:
        return self.principal.region_code if self.principal.role == "operator" else None

    def sees_unit(self, unit_id: str) -> bool:
        if self.principal.role == "unit":
            return unit_id == self.principal.unit_id
        return within(unit_region(unit_id), self.limit)

    def region(self, code: str | None) -> str:
        """The rollup key of the region asked for (default: the whole scope of the token)."""
        if self.principal.role != "operator":
            raise Forbidden("the situation, warnings and other regions are for operators")
        if code is None:
            key = region_key(self.limit) if self.limit else NATIONAL
        else:
            key = region_key(code)
            if key != NATIONAL and RegionDirectory.default().get(key) is None:
                raise Invalid("region", f"no current region has the code {code}")
        if not within(key, self.limit) or (key == NATIONAL and self.limit):
            raise Forbidden(f"your token is limited to region {self.limit}")
        return key

    def scope(self, region: str | None, unit: str | None) -> tuple[str, str]:
        """The scorecard asked for: a unit's (a unit token: its own only) or a region's."""
        if self.principal.role == "unit":
            if region is not None or (unit is not None and unit != self.principal.unit_id):
                raise Forbidden("a unit sees its own scorecard only")
            return "unit", str(self.principal.unit_id)
        if unit is not None:
            if region is not None:
                raise Invalid("unit", "ask for a unit or a region, not both")
            if not self.sees_unit(unit):
                raise Forbidden(f"your token is limited to region {self.limit}")
            return "unit", unit
        return "region", self.region(region)

    def prefix(self, key: str) -> str:
        return scope_prefix(key)


def reader(principal: Annotated[Principal, Depends(require_role("operator", "unit"))]) -> Reader:
    return Reader(principal)


def period(start: date | None, end: date | None, *, year: bool) -> tuple[date, date]:
    """From and to (China time), both included. Default: to today; from the first of the
    year (scorecards, trends) or 30 days back (situation, warnings)."""
    end = end or cst_day(datetime.now(UTC))
    if start is None:
        start = end.replace(month=1, day=1) if year else end - timedelta(days=29)
    if start > end:
        raise Invalid("from", "from must not be after to")
    if (end - start).days >= LONGEST_PERIOD_DAYS:
        raise Invalid("from", f"a period is at most {LONGEST_PERIOD_DAYS} days")
    return start, end


def wants_csv(request: Request) -> bool:
    return "text/csv" in request.headers.get("accept", "").lower()


def csv_or_json(
    request: Request,
    body: dict[str, Any],
    rows: list[dict[str, Any]],
    columns: list[str],
    name: str,
) -> Any:
    """The JSON body, or ``rows`` as CSV (UTF-8 with a BOM, so spreadsheets read Chinese)
    when the client accepts ``text/csv``."""
    if not wants_csv(request):
        return body
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return Response(
        content="\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
