"""Reviewing a change to the rule pack: each rule's own cases (`rules test`), the findings two
packs give on one extract (`rules diff`), and the approved snapshot with its version rule.

May import: `checks.base`, `checks.extract`, `checks.validation`, `checks.narrative`, `checks.engine`.
"""
