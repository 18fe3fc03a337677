"""The nightly cycle: one run from extract to published folder (`run`), what it writes
(`run_outputs`), atomic publishing (`publish`; `objectstore` where OUT is object storage), the
run store, the comparison with earlier nights, and the auditors' decisions (`review`).

May import: `checks.base`, `checks.extract`, `checks.validation`, `checks.engine`, `checks.audit`.
"""
