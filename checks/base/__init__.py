"""What every stage stands on: errors and exit codes, London time, the safe YAML loader, the
config file and its schema, the shipped reference data, DuckDB connections, CSV writing that
neutralises formulas, the Wilson interval and the progress display.

May import: nothing else in `recordcheck.checks`.
"""
