"""The order `make test` starts the test files in (tests/conftest.py, tests/file_seconds.py): the
longest first, each file's tests together and in their own order."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import tests.conftest as conftest
import tests.file_seconds as file_seconds

pytest_plugins = ("pytester",)

TESTS = Path(__file__).resolve().parent
MAKEFILE = TESTS.parent / "Makefile"


@dataclass
class _Item:
    """What the ordering hook reads of a collected test: its file and its marks."""

    path: Path
    name: str
    marks: tuple[str, ...] = field(default=())

    def get_closest_marker(self, name: str) -> str | None:
        return name if name in self.marks else None


def test_every_file_the_table_names_is_a_test_file():
    table = json.loads(conftest.FILE_SECONDS.read_text(encoding="utf-8"))
    assert table and all((TESTS / name).is_file() for name in table), sorted(n for n in table if not (TESTS / n).is_file())


def _recipes() -> dict[str, str]:
    """Each Makefile target's recipe, its lines joined."""
    recipes: dict[str, str] = {}
    target = ""
    for line in MAKEFILE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("\t", "#", " ")) and ":" in line:
            target = line.split(":", 1)[0]
        elif line.startswith("\t") and target:
            recipes[target] = recipes.get(target, "") + line
    return recipes


def test_make_test_keeps_each_file_whole_and_the_order_the_hook_gives():
    """Both xdist targets run whole files on each worker (--dist loadfile) in the hook's order:
    without --no-loadscope-reorder, xdist sorts the files by test count again and the order of
    tests/file_seconds.json is silently lost."""
    recipes = _recipes()
    for target in ("test", "test-fast"):
        assert "pytest" in recipes[target] and "--dist loadfile" in recipes[target], target
        assert "--no-loadscope-reorder" in recipes[target], target


def test_every_test_runs_in_ci_once_the_spark_tests_in_their_own_target():
    """make test runs all but the tests marked spark, make test-spark exactly those (and fails
    if one skips), and CI runs both: no test falls between the two."""
    recipes = _recipes()
    assert '-m "not spark"' in recipes["test"]
    assert "-m spark" in recipes["test-spark"] and "--fail-on-skip" in recipes["test-spark"]
    assert not any(word in recipes["test-spark"] for word in ("tests/", "-k ", "not spark"))
    ci = [line.split("#")[0].strip() for line in (TESTS.parent / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert "make test" in ci and "make test-spark" in ci


def test_fail_on_skip_fails_a_run_that_skipped_anything(pytester):
    """make test-spark's --fail-on-skip (tests/conftest.py): a skipped test fails the run, and
    only with the option (make test may skip the browser test where chromium is absent)."""
    pytester.makepyfile(
        test_runs="def test_runs():\n    pass\n",
        test_no_java="import pytest\n\n\n@pytest.mark.skipif(True, reason='no Java')\ndef test_skips():\n    pass\n",
    )
    plugin = ("-p", "tests.conftest", "-p", "no:cacheprovider", "-rs")  # -rs: make test-spark has -ra
    assert pytester.runpytest_inprocess(*plugin).ret == pytest.ExitCode.OK
    failed = pytester.runpytest_inprocess(*plugin, "--fail-on-skip")
    assert failed.ret == pytest.ExitCode.TESTS_FAILED
    failed.stdout.fnmatch_lines(["*--fail-on-skip: 1 test(s) or file(s) skipped*", "*SKIPPED*no Java*"])
    (pytester.path / "test_no_java.py").unlink()
    assert pytester.runpytest_inprocess(*plugin, "--fail-on-skip").ret == pytest.ExitCode.OK


def test_the_longest_files_start_first_each_file_whole_and_in_its_own_order(tmp_path, monkeypatch):
    seconds = tmp_path / "file_seconds.json"
    seconds.write_text(json.dumps({"test_measured.py": 5}), encoding="utf-8")
    monkeypatch.setattr(conftest, "FILE_SECONDS", seconds)
    items = [
        _Item(TESTS / "test_quick.py", "a"),
        _Item(TESTS / "test_quick.py", "b"),
        _Item(TESTS / "test_slow_unmeasured.py", "c", ("slow",)),
        _Item(TESTS / "test_slow_unmeasured.py", "d", ("slow",)),  # two slow tests: 6 s
        _Item(TESTS / "test_measured.py", "e", ("slow",)),
        _Item(TESTS / "test_measured.py", "f"),
    ]
    conftest.pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [item.name for item in items] == ["c", "d", "e", "f", "a", "b"]


def test_the_table_is_each_files_seconds_from_a_runs_junit_xml(tmp_path, monkeypatch):
    junit = tmp_path / "run.xml"
    junit.write_text(
        """<testsuites><testsuite>
        <testcase classname="tests.test_a" name="one" time="1.4"/>
        <testcase classname="tests.test_b" name="two" time="0.3"/>
        <testcase classname="tests.test_a" name="three" time="2.2"/>
        <testcase classname="tests.test_c" name="four" time="9.6"/>
        </testsuite></testsuites>""",
        encoding="utf-8",
    )
    monkeypatch.setattr(file_seconds, "FILE_SECONDS", tmp_path / "file_seconds.json")
    file_seconds.main(str(junit))
    text = (tmp_path / "file_seconds.json").read_text(encoding="utf-8")
    assert json.loads(text) == {"test_c.py": 10, "test_a.py": 4}  # under a second: left to the guess
    assert list(json.loads(text)) == ["test_c.py", "test_a.py"]
