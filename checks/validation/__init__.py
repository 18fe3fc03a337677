"""Validating parsed tables: the expectation suites (data in `rules/expectations/`), their SQL,
the runners behind one seam (`seam.SuiteRunner`; `runners.make_runner` chooses one), the
quarantine, and `pipeline.load_extract`, which takes an export from its files to accepted tables.

May import: `checks.base`, `checks.extract`.
"""
