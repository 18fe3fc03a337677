"""Rewrite tests/file_seconds.json from a run's JUnit XML: each file's seconds, longest first.

.venv/bin/pytest -q -n 2 --dist loadfile --no-loadscope-reorder -m "not spark" --junitxml=run.xml
.venv/bin/python -m tests.file_seconds run.xml
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET  # noqa: S405 - our own test run's report
from collections import Counter

from tests.conftest import FILE_SECONDS


def main(junit: str) -> None:
    seconds: Counter[str] = Counter()
    for case in ET.parse(junit).iter("testcase"):  # noqa: S314 - as above
        seconds[case.get("classname", "").rsplit(".", 1)[-1] + ".py"] += float(case.get("time") or 0)
    table = {name: round(value) for name, value in seconds.most_common() if round(value) >= 1}
    FILE_SECONDS.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
