"""Taking the tool on: drafting a source profile from an export (names and value shapes, never
free text), the evidence behind each guess, checking a profile, and writing out the contract.

May import: `checks.base`, `checks.extract`, `checks.validation`, `checks.engine`, `checks.nightly`.
"""
