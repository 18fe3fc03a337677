"""The scheduler units in deploy/: the nightly wrapper gives every exit code its action (a status
line for monitoring, a mail when a person is needed, and its own exit status so systemd's
OnFailure= or cron's MAILTO fires), run here with stub commands for each code."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from recordcheck.checks.base.exitcodes import ExitCode
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
NEEDS_A_PERSON = {
    code for code in ExitCode if code not in (ExitCode.SUCCESS, ExitCode.FINDINGS_CHANGED, ExitCode.FORCES_REFUSED)
}


def _stub(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("code", sorted({int(c) for c in NEEDS_A_PERSON} | {0, 42}))
def test_the_wrapper_maps_each_exit_code_to_an_action(tmp_path, code):
    stub = _stub(tmp_path / "recordcheck", f'echo "args: $*" > "{tmp_path}/args"\necho "Headline: stub night"\nexit {code}')
    sendmail = _stub(tmp_path / "sendmail", f'cat > "{tmp_path}/mail"')
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "as_of.txt").write_text("2026-04-01T02:00:00Z\n", encoding="utf-8")
    env = {
        "PATH": os.environ["PATH"],
        "RECORDCHECK_ENV": str(tmp_path / "none.env"),
        "RECORDCHECK": str(stub),
        "EXPORT_DIR": str(tmp_path / "export"),
        "OUT_DIR": str(tmp_path / "out"),
        "STATUS_FILE": str(tmp_path / "status" / "last"),
        "MAIL_TO": "registrar@example.invalid",
        "SENDMAIL": str(sendmail),
    }
    done = subprocess.run([str(DEPLOY / "recordcheck-night")], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == code, "the scheduler sees the night's own code"
    status = (tmp_path / "status" / "last").read_text(encoding="utf-8")
    assert f" exit={code} " in status
    assert ("level=ok" in status) == (code == 0)
    mail = tmp_path / "mail"
    assert mail.exists() == (code != 0), "a mail exactly when a person is needed"
    if code:
        text = mail.read_text(encoding="utf-8")
        assert f"Subject: recordcheck night: exit {code}" in text and "Headline: stub night" in text
    args = (tmp_path / "args").read_text(encoding="utf-8")
    assert "--as-of 2026-04-01T02:00:00Z" in args, "the export's own time is the as-of"


def test_under_cron_a_clean_night_prints_nothing(tmp_path):
    stub = _stub(tmp_path / "recordcheck", 'echo "Headline: clean"\nexit 0')
    env = {**os.environ, "RECORDCHECK_ENV": "/nonexistent", "RECORDCHECK": str(stub), "PRINT_CLEAN": "0"}
    env["STATUS_FILE"] = str(tmp_path / "s")
    done = subprocess.run([str(DEPLOY / "recordcheck-night")], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout == ""


def test_the_units_hide_no_failure_and_name_their_alert(tmp_path):
    service = (DEPLOY / "recordcheck.service").read_text(encoding="utf-8")
    assert "OnFailure=recordcheck-alert@%n.service" in service
    assert not [line for line in service.splitlines() if line.startswith("SuccessExitStatus")]
    cron = [line for line in (DEPLOY / "recordcheck.cron").read_text().splitlines() if line and not line.startswith("#")]
    schedule = [line for line in cron if not line.startswith("MAILTO")]
    assert len(schedule) == 1 and schedule[0].split()[5] == "registrar", "a cron.d line has its user field"
    if shutil.which("systemd-analyze"):  # where systemd is present: the units as systemd reads them
        for unit in ("recordcheck.service", "recordcheck.timer", "recordcheck-alert@.service"):
            text = (DEPLOY / unit).read_text(encoding="utf-8")
            (tmp_path / unit).write_text(text.replace("/srv/recordcheck/deploy", str(DEPLOY)), encoding="utf-8")
        verified = subprocess.run(
            ["systemd-analyze", "verify", str(tmp_path / "recordcheck.service"), str(tmp_path / "recordcheck.timer")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert verified.returncode == 0, verified.stderr


@pytest.mark.slow
def test_the_shipped_nightly_config_is_loud_on_a_doubtful_night(tmp_path):
    """deploy/nightly.yaml loads, and on the sample: the first night fails on its new high-severity
    findings (exit 1, said in the Verdict line); the same export again is a warning, not a failure;
    a truncated export fails on the shrink."""
    import shutil

    import polars as pl
    from click.testing import CliRunner

    from recordcheck.checks.base.config import load_config
    from recordcheck.cli import cli
    from tests.conftest import AS_OF_TEXT

    sample_extract = ROOT / "sample_data" / "extract"
    config = load_config(DEPLOY / "nightly.yaml")
    assert list(config.fail_on.new_findings) == ["high"]
    assert config.unmapped_codes == config.unlinked_columns == "incomplete"

    def night(extract: Path, as_of: str = AS_OF_TEXT):
        return CliRunner().invoke(
            cli,
            ["run", str(extract), "--out", str(tmp_path / "out"), "--as-of", as_of]
            + ["--config", str(DEPLOY / "nightly.yaml"), "--quiet"],
        )

    first = night(sample_extract)
    assert first.exit_code == ExitCode.THRESHOLD_BREACHED, first.output
    assert "Verdict: threshold breached (22 new open high-severity finding(s))." in first.output
    again = night(sample_extract, "2026-04-02T00:00:00Z")
    assert again.exit_code == 0, again.output
    assert "Warning: the export is, file for file, the one run" in again.output
    cut = tmp_path / "cut"
    shutil.copytree(sample_extract, cut)
    contacts = pl.read_csv(cut / "victim_contacts.csv", infer_schema=False)
    contacts.head(contacts.height // 2).write_csv(cut / "victim_contacts.csv")
    truncated = night(cut, "2026-04-03T00:00:00Z")
    assert truncated.exit_code == ExitCode.THRESHOLD_BREACHED, truncated.output
    assert "fewer than the previous run's" in truncated.output
