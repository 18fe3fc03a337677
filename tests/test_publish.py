"""Unit tests of staging and publishing: a run folder appears whole or not at all, and `latest`
moves only after the run store has taken the run."""

from __future__ import annotations

import os

import pytest

from recordcheck.checks.base.errors import OutputUnavailable
from recordcheck.checks.nightly.publish import LATEST, STAGING, UNCOMMITTED, point_latest, remove_stale_staging, staged_run


def _stagings(out):
    return [p for p in out.iterdir() if p.name.startswith(STAGING)]


def test_a_run_folder_is_published_whole_and_latest_follows(tmp_path):
    out = tmp_path / "out"
    steps = []
    with staged_run(out, "run-1", commit=lambda: steps.append("commit"), checkpoint=steps.append) as staging:
        (staging / "summary.json").write_text("{}")
        assert not (out / "run-1").exists() and not (out / LATEST).exists()
    assert steps == ["staged", "moved", "commit", "recorded", "unmarked"]
    assert (out / "run-1" / "summary.json").is_file() and not (out / "run-1" / UNCOMMITTED).exists()
    assert os.readlink(out / LATEST) == "run-1" and _stagings(out) == []


def test_a_failure_while_writing_publishes_nothing(tmp_path):
    out = tmp_path / "out"
    with staged_run(out, "run-1") as staging:
        (staging / "a").write_text("x")
    with pytest.raises(RuntimeError), staged_run(out, "run-2") as staging:
        (staging / "a").write_text("x")
        raise RuntimeError("disk trouble")
    assert not (out / "run-2").exists() and os.readlink(out / LATEST) == "run-1" and _stagings(out) == []


def test_a_store_that_refuses_the_run_leaves_no_folder_and_latest_unmoved(tmp_path):
    out = tmp_path / "out"
    with staged_run(out, "run-1") as staging:
        (staging / "a").write_text("x")

    def refuse() -> None:
        raise RuntimeError("the store's transaction failed")

    with pytest.raises(RuntimeError, match="transaction failed"), staged_run(out, "run-2", commit=refuse) as staging:
        (staging / "a").write_text("x")
    assert not (out / "run-2").exists(), "a folder the store never recorded is removed"
    assert os.readlink(out / LATEST) == "run-1"


def test_an_existing_run_folder_is_never_overwritten(tmp_path):
    out = tmp_path / "out"
    (out / "run-1").mkdir(parents=True)
    with pytest.raises(OutputUnavailable, match="already exists"), staged_run(out, "run-1") as staging:
        (staging / "a").write_text("x")
    assert _stagings(out) == [] and not (out / LATEST).exists()


def test_stale_staging_of_a_dead_process_is_removed_and_a_live_ones_kept(tmp_path):
    out = tmp_path / "out"
    dead = out / f"{STAGING}999999999-run-abc"
    live = out / f"{STAGING}{os.getpid()}-run-def"
    dead.mkdir(parents=True)
    live.mkdir()
    assert remove_stale_staging(out) == [dead.name]
    assert not dead.exists() and live.exists()


def test_latest_is_repointed_in_one_step(tmp_path):
    out = tmp_path / "out"
    (out / "a").mkdir(parents=True)
    (out / "b").mkdir()
    point_latest(out, "a")
    point_latest(out, "b")
    assert os.readlink(out / LATEST) == "b" and not (out / f".{LATEST}.tmp").exists()


def test_the_runs_duckdb_writes_only_into_its_outbox_and_the_outbox_goes(tmp_path):
    """population.parquet is written by DuckDB's COPY into a private outbox under OUT: the one
    folder the run's DuckDB may touch. A write anywhere else is refused, a setting cannot be
    changed to widen it, and no outbox is left after the run."""
    import duckdb

    from recordcheck.checks.base.database import Database
    from recordcheck.checks.nightly.publish import outbox

    out = tmp_path / "out"
    out.mkdir()
    with outbox(out) as box, Database(outbox=box) as database:
        database.con.execute(f"COPY (SELECT 1 AS a) TO '{box}/ok.parquet' (FORMAT parquet)")
        assert (box / "ok.parquet").is_file()
        for sql in (
            f"COPY (SELECT 1 AS a) TO '{tmp_path}/elsewhere.parquet' (FORMAT parquet)",
            f"SELECT * FROM read_csv('{tmp_path}/none.csv')",
            "SET allowed_directories = ['/']",
            "SET enable_external_access = true",
        ):
            with pytest.raises(duckdb.Error):
                database.con.execute(sql)
    assert list(out.iterdir()) == [], "the outbox is removed"
    assert not (tmp_path / "elsewhere.parquet").exists()


@pytest.mark.slow
def test_a_full_disk_at_the_store_commit_exits_7_and_publishes_nothing(tmp_path, monkeypatch):
    """The store's write fails for want of disk (DuckDB says so in its own IOException): exit 7
    OUTPUT_UNAVAILABLE, not 5; the run folder is gone, `latest` never pointed, the store holds no
    run, and the next night runs as if this one had not been tried."""
    import duckdb

    from recordcheck.checks.base.exitcodes import ExitCode
    from recordcheck.checks.nightly.store import RunStore
    from tests.conftest import run_sample_cli

    def full(self, run):
        raise duckdb.IOException('IO Error: Could not write file "/srv/out/recordcheck.duckdb.wal": No space left on device')

    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        patch.setattr(RunStore, "_insert_run", full)
        result = run_sample_cli(out)
    assert result.exit_code == ExitCode.OUTPUT_UNAVAILABLE, result.output
    assert "the run store cannot be written (No space left on device)" in result.output
    assert "Nothing was published." in result.output and "/srv/out" not in result.output
    assert not (out / LATEST).exists() and [p.name for p in out.iterdir() if p.name[:1].isdigit()] == []
    with RunStore(out / "recordcheck.duckdb") as store:
        assert store.con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
    assert run_sample_cli(out).exit_code == 0 and (out / LATEST).is_symlink()


@pytest.mark.slow
def test_a_sigterm_swallowed_while_publishing_never_exits_0(tmp_path, monkeypatch):
    """A SIGTERM whose Interrupted a library or finaliser swallows (one in 31 tries did) used to let
    the run publish and exit 0. The command now ends INTERRUPTED, saying the run was published."""
    import contextlib
    import signal

    from recordcheck.checks.base.exitcodes import ExitCode
    from recordcheck.checks.nightly import publish
    from tests.conftest import run_sample_cli

    real = publish.point_latest

    def swallowing(out_dir, run_id):
        with contextlib.suppress(BaseException):  # what a careless library does
            os.kill(os.getpid(), signal.SIGTERM)
        real(out_dir, run_id)

    monkeypatch.setattr(publish, "point_latest", swallowing)
    out = tmp_path / "out"
    result = run_sample_cli(out)
    assert result.exit_code == ExitCode.INTERRUPTED, result.output
    assert "interrupted (SIGTERM) while it worked, and it went on to finish" in result.output
    assert "published and in the store" in result.output and (out / LATEST).is_symlink()
    monkeypatch.setattr(publish, "point_latest", real)
    assert run_sample_cli(tmp_path / "again").exit_code == 0, "the next command starts with no signal recorded"
