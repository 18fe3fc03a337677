"""Package discovery for the one `recordcheck` namespace over the repository root.

pyproject.toml maps `recordcheck` onto this folder (`package-dir`), and setuptools' own `find`
cannot add that prefix, so the packages are found here: every folder under checks/, commands/,
reports/ and rules/ (code and data alike), so a new rule family or engine stage needs no edit.
"""

from setuptools import find_namespace_packages, setup

FOLDERS = ("checks", "commands", "reports", "rules")

found = find_namespace_packages(include=[f"{folder}*" for folder in FOLDERS], exclude=["*__pycache__*"])
setup(packages=["recordcheck", *(f"recordcheck.{name}" for name in found)])
