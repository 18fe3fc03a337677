"""The core rules as one plain SQL script over the CSVs, the way an analyst writes them in DuckDB.

The benchmark's floor for the rules (issue: within 2x plain SQL): the same rules as
`pandas_reference.py` (unrecorded notifiable referrals and incidents, late recording, rape
disclosures recorded as another offence, overdue victim updates), with the contract's defaults,
on the same files. No validation, no quarantine, no register, no report: what an analyst's script
does. Prints how many records each flags.

    python benchmarks/sql_reference.py EXTRACT_DIR --as-of 2026-04-01T00:00:00Z
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent

# Naive times are London wall-clock; a few carry their own offset (the repeated autumn hour).
INSTANT = """CASE WHEN regexp_matches({c}, '(Z|[+-][0-9][0-9]:?[0-9][0-9])$') THEN CAST({c} AS TIMESTAMPTZ)
          ELSE timezone('Europe/London', CAST({c} AS TIMESTAMP)) END"""


def _source(folder: Path, table: str) -> str:
    csv = folder / f"{table}.csv"
    if csv.exists():
        return f"read_csv('{csv}', all_varchar = true, header = true)"
    return f"read_parquet('{folder / table}.parquet')"


def script(folder: Path, as_of: str) -> str:
    def at(column: str) -> str:
        return INSTANT.format(c=f"CAST({column} AS VARCHAR)")

    catalogue = ROOT / "rules" / "reference" / "offence_catalogue.csv"
    return f"""
SET TimeZone = 'UTC';
CREATE TEMP TABLE catalogue AS
  SELECT code, lower(notifiable) = 'true' AS notifiable, lower(rape) = 'true' AS rape
  FROM read_csv('{catalogue}', all_varchar = true, header = true, comment = '#');
CREATE TEMP TABLE referrals AS
  SELECT referral_id, {at("received_at")} AS received_at, disclosed_offence_code, decision, no_crime_reason
  FROM {_source(folder, "referrals")};
CREATE TEMP TABLE incidents AS
  SELECT incident_id, {at("reported_at")} AS reported_at, reported_offence_code, closure_class, no_crime_reason
  FROM {_source(folder, "incidents")};
CREATE TEMP TABLE crimes AS
  SELECT crime_id, {at("reported_at")} AS reported_at, {at("recorded_at")} AS recorded_at, offence_code, status,
         victim_person_id, TRY_CAST(outcome_code AS INTEGER) AS outcome_code, {at("outcome_at")} AS outcome_at
  FROM {_source(folder, "crimes")};
CREATE TEMP TABLE links AS SELECT crime_id, source_type, source_id FROM {_source(folder, "crime_links")};
CREATE TEMP TABLE contacts AS SELECT crime_id, {at("contact_at")} AS contact_at FROM {_source(folder, "victim_contacts")};

CREATE TEMP TABLE found AS
WITH linked AS (SELECT DISTINCT source_type, source_id FROM links),
reports AS (
  SELECT 'referral' AS kind, referral_id AS id, received_at AS moment, disclosed_offence_code AS code, decision AS closure,
         no_crime_reason FROM referrals
  UNION ALL
  SELECT 'incident', incident_id, reported_at, reported_offence_code, closure_class, no_crime_reason FROM incidents
),
unrecorded AS (
  SELECT r.kind FROM reports r JOIN catalogue c ON c.code = r.code AND c.notifiable
  WHERE NOT EXISTS (SELECT 1 FROM linked l WHERE l.source_type = r.kind AND l.source_id = r.id)
    AND (r.closure IN ('crime_recorded', 'crime')
         OR (r.closure IN ('pending', 'open') AND epoch(TIMESTAMPTZ '{as_of}') - epoch(r.moment) > 24 * 3600)
         OR (r.closure IN ('n100', 'no_offence_disclosed', 'crime_related_incident', 'non_crime')
             AND r.no_crime_reason IS NULL))
),
first_report AS (
  SELECT c.crime_id, least(c.reported_at, min(r.moment)) AS first_at
  FROM crimes c LEFT JOIN links l ON l.crime_id = c.crime_id
  LEFT JOIN reports r ON r.kind = l.source_type AND r.id = l.source_id
  GROUP BY c.crime_id, c.reported_at
),
rape_disclosed AS (
  SELECT DISTINCT l.crime_id FROM links l
  JOIN reports r ON r.kind = l.source_type AND r.id = l.source_id
  JOIN catalogue k ON k.code = r.code AND k.rape
),
open_crimes AS (
  SELECT crime_id, recorded_at,
         CASE WHEN outcome_code BETWEEN 1 AND 22 AND outcome_at IS NOT NULL THEN outcome_at
              ELSE TIMESTAMPTZ '{as_of}' END AS window_end
  FROM crimes WHERE status = 'recorded' AND victim_person_id IS NOT NULL
),
points AS (
  SELECT crime_id, recorded_at AS moment FROM open_crimes
  UNION ALL SELECT o.crime_id, v.contact_at FROM contacts v JOIN open_crimes o USING (crime_id)
    WHERE v.contact_at BETWEEN o.recorded_at AND o.window_end
  UNION ALL SELECT crime_id, window_end FROM open_crimes
),
gaps AS (
  SELECT crime_id, epoch(moment) - epoch(lag(moment) OVER (PARTITION BY crime_id ORDER BY moment)) AS gap FROM points
)
SELECT 'unrecorded_referrals' AS rule, count(*) FILTER (WHERE kind = 'referral') AS n FROM unrecorded
UNION ALL SELECT 'unrecorded_incidents', count(*) FILTER (WHERE kind = 'incident') FROM unrecorded
UNION ALL SELECT 'late_recording', count(*) FROM crimes c JOIN first_report f USING (crime_id)
  WHERE epoch(c.recorded_at) - epoch(f.first_at) > 24 * 3600
UNION ALL SELECT 'rape_misclassified', count(*) FROM crimes c JOIN rape_disclosed d USING (crime_id)
  WHERE c.offence_code NOT IN (SELECT code FROM catalogue WHERE rape)
UNION ALL SELECT 'victim_update_overdue', count(*) FROM (SELECT crime_id FROM gaps GROUP BY crime_id
  HAVING max(gap) > 28 * 86400);
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("extract", type=Path)
    parser.add_argument("--as-of", default="2026-04-01T00:00:00Z")
    args = parser.parse_args()
    con = duckdb.connect()
    con.execute(script(args.extract, args.as_of))
    for rule, count in con.execute("SELECT rule, n FROM found").fetchall():
        print(f"{rule}: {count}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
