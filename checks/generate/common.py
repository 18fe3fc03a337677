"""Constants, the record builder and the small vectorised helpers every part of the generator uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from recordcheck.checks.base.london import LONDON_TZ
from recordcheck.checks.extract.contract import TABLES

US = 1_000_000
HOUR = 3600 * US
DAY = 24 * HOUR
NULL_TS = np.iinfo(np.int64).min
DEFAULT_AS_OF = datetime(2026, 4, 1, tzinfo=UTC)

DISTRICTS = np.array(["Sheffield", "Doncaster", "Rotherham", "Barnsley"], dtype=object)
DISTRICT_WEIGHTS = np.array([0.42, 0.22, 0.19, 0.17])
AGENCIES = np.array(
    [
        "children_social_care",
        "health",
        "education",
        "youth_justice",
        "voluntary_sector",
        "adult_social_care",
        "other",
    ],
    dtype=object,
)
AGENCY_WEIGHTS = np.array([0.36, 0.2, 0.24, 0.05, 0.05, 0.05, 0.05])

SUMMARIES = np.array(
    [
        "Concern raised by school, child disclosed to teacher",
        'Caller states "he hit me", injuries to face',
        "Social worker reports, on home visit, bruising to arm\nchild withdrawn",
        'Neighbour heard shouting; "again", they said',
        "Health visitor: unexplained marks, £20 owed, café meeting",
        "Referral from MASH <script>alert('x')</script> & review",
        "Parent reports online messages from adult, images requested",
        "Youth worker concern: older males, car, late nights",
    ],
    dtype=object,
)
RATIONALES = np.array(
    [
        "Checked CCTV; victim not present at location at time stated",
        "Crime recorded by neighbouring force under their reference",
        "Duplicate of an earlier report of the same incident, linked",
        "Adult caller declined to confirm, no vulnerability, no third party",
    ],
    dtype=object,
)


@dataclass
class Extract:
    tables: dict[str, pl.DataFrame]
    key: pl.DataFrame
    as_of: datetime
    seed: int
    scale: float
    counts: dict[str, int] = field(default_factory=dict)
    narratives: pl.DataFrame | None = None
    """What the narratives planted (disclosures and traps), for scoring the screen by group and kind."""
    phrasing: str = "tuned"


# ---------------------------------------------------------------- small vectorised helpers


def _where(condition: Any, yes: Any, no: Any) -> np.ndarray:
    """np.where for object columns where one side is None (a missing value in the extract)."""
    chosen: np.ndarray = np.where(condition, yes, no)
    return chosen


def _to_us(moment: datetime) -> int:
    return int(moment.timestamp() * US)


def local_dates(instants_us: np.ndarray) -> np.ndarray:
    """Europe/London calendar date of each UTC instant (datetime64[D])."""
    series = pl.Series(instants_us.astype(np.int64)).cast(pl.Datetime("us", "UTC"))
    return series.dt.convert_time_zone(LONDON_TZ).dt.date().to_numpy().astype("datetime64[D]")


def age_on(dob: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Whole years completed on `on` (a 29 February birthday completes on 1 March)."""
    dob_y = dob.astype("datetime64[Y]").astype(int) + 1970
    on_y = on.astype("datetime64[Y]").astype(int) + 1970
    dob_m = dob.astype("datetime64[M]").astype(int) % 12
    on_m = on.astype("datetime64[M]").astype(int) % 12
    dob_d = (dob - dob.astype("datetime64[M]")).astype(int)
    on_d = (on - on.astype("datetime64[M]")).astype(int)
    before_birthday = (on_m < dob_m) | ((on_m == dob_m) & (on_d < dob_d))
    ages: np.ndarray = on_y - dob_y - before_birthday.astype(int)
    return ages


def dob_for_age(age: np.ndarray, on: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A date of birth giving exactly `age` on date `on`."""
    approx = (
        on - (age * 365.25).astype(int).astype("timedelta64[D]") - rng.integers(1, 360, len(age)).astype("timedelta64[D]")
    )
    actual = age_on(approx, on)
    # nudge into range: move a year at a time until the age is right
    for _ in range(3):
        approx = approx + ((actual - age) * 365).astype("timedelta64[D]")
        actual = age_on(approx, on)
    bad = actual != age
    if bad.any():
        approx[bad] = on[bad] - ((age[bad] * 365.25) + 180).astype(int).astype("timedelta64[D]")
    dates: np.ndarray = approx
    return dates


def pick_codes(kind: np.ndarray, age: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """Offence codes that fit the victim's age at the offence and sex (core-rules section 4)."""
    female = sex == "F"
    under13, under16 = age < 13, age < 16
    rape = np.where(
        female,
        np.where(under13, "19E", np.where(under16, "19D", "19C")),
        np.where(under13, "19H", np.where(under16, "19G", "19F")),
    )
    assault = np.where(female, np.where(under13, "20B", "20A"), np.where(under13, "17B", "17A"))
    activity = np.where(under13, "21", np.where(under16, "22B", "71"))
    codes = np.where(
        kind == "rape",
        rape,
        np.where(kind == "sexual_assault", assault, np.where(kind == "activity", activity, kind)),
    )
    return codes.astype(object)


CHILD_KINDS = (
    ["rape", "sexual_assault", "activity", "71", "88A", "11A", "8N", "105A", "13", "8L"],
    [0.12, 0.2, 0.1, 0.06, 0.05, 0.2, 0.1, 0.1, 0.02, 0.05],
)
ADULT_KINDS = (
    ["rape", "sexual_assault", "8N", "105A", "8L", "8Q", "3B", "106", "5D"],
    [0.08, 0.1, 0.25, 0.22, 0.12, 0.1, 0.05, 0.03, 0.05],
)
INCIDENT_KINDS = (
    [
        "8N",
        "105A",
        "8L",
        "8Q",
        "58A",
        "58C",
        "49",
        "28E",
        "45",
        "34B",
        "9A",
        "3B",
        "sexual_assault",
        "rape",
        "92D",
        "10D",
        "46",
    ],
    [0.12, 0.15, 0.07, 0.03, 0.07, 0.06, 0.09, 0.06, 0.06, 0.03, 0.05, 0.02, 0.03, 0.01, 0.06, 0.03, 0.06],
)
NO_VICTIM_CODES = {"92D", "10D", "46"}


class _Gen:
    """Holds the random state and the blocks of each table while they are built."""

    def __init__(self, seed: int, scale: float, as_of: datetime, first_id: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.later = np.random.default_rng([seed, 1])
        """Draws for columns added to the extract after its first shape (the supervision trail,
        decision notifications): a stream of their own, so a new column never reshuffles the
        records of a seed (and the approved findings on the sample keep their record ids)."""
        self.scale = scale
        self.as_of = _to_us(as_of)
        self.start = self.as_of - 365 * DAY
        self.end = self.as_of - 3 * DAY  # ordinary reports end here so follow-up stays before as-of
        self.blocks: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
        self.key: list[tuple[str, str, str]] = []
        self.first_id = first_id
        """Where every id series starts: a part of an extract written in parts (write_parts) numbers
        its records after the parts before it, so ids stay unique across the whole extract."""
        self.counters: dict[str, int] = {}

    # ids
    def ids(self, prefix: str, n: int) -> np.ndarray:
        start = self.counters.get(prefix, self.first_id)
        self.counters[prefix] = start + n
        return np.array([f"{prefix}{i:07d}" for i in range(start + 1, start + n + 1)], dtype=object)

    def choice(self, values: Any, n: int, p: Any = None) -> np.ndarray:
        return np.asarray(self.rng.choice(np.asarray(values, dtype=object), n, p=p), dtype=object)

    def instants(self, n: int, lo: int | None = None, hi: int | None = None) -> np.ndarray:
        return self.rng.integers(lo if lo is not None else self.start, hi if hi is not None else self.end, n)

    def add(self, table: str, **columns: Any) -> None:
        lengths = {len(v) for v in columns.values() if isinstance(v, (np.ndarray, list))}
        assert len(lengths) == 1, (
            table,
            {k: len(v) for k, v in columns.items() if isinstance(v, (np.ndarray, list))},
        )
        self.blocks[table].append(columns)

    def victims(
        self, n: int, child_share: float, on: np.ndarray, kinds: tuple[list[str], list[float]]
    ) -> dict[str, np.ndarray]:
        """Victims with age at the offence date, sex, date of birth and a fitting offence code."""
        child = self.rng.random(n) < child_share
        age = np.where(child, self.rng.choice(np.arange(3, 18), n, p=_child_age_p()), self.rng.integers(18, 80, n))
        sex = self.choice(["F", "M"], n, p=[0.68, 0.32])
        child_kinds, child_p = CHILD_KINDS
        kind = np.where(child, self.choice(child_kinds, n, p=child_p), self.choice(kinds[0], n, p=kinds[1]))
        codes = pick_codes(kind, age, sex)
        dob = dob_for_age(age, on, self.rng)
        return {"age": age, "sex": sex, "dob": dob, "code": codes, "child": child}


def _child_age_p() -> np.ndarray:
    weights = np.array([1, 1, 1, 2, 2, 2, 3, 3, 4, 6, 8, 9, 9, 8, 6], dtype=float)
    shares: np.ndarray = weights / weights.sum()
    return shares
