"""Reading a force's export: the canonical contract, source profiles, the CSV/Parquet reader
with its independent record count, parsing to canonical types, and coverage (which canonical
column each force column fills).

May import: `checks.base`.
"""
