"""Running the rule pack: pack and rule loading, the DuckDB rule engine, the register of
findings, and the headline figures computed from them.

May import: `checks.base`, `checks.extract`, `checks.validation`, `checks.narrative`.
"""
