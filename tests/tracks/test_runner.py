import json

import pytest

from tracks.__main__ import main
from tracks.base import Context, Outcome, Status, Track, Verdict, md_table
from tracks.registry import NOT_REGISTERED, all_tracks, get_tracks
from tracks.runner import run_tracks, summary_table


def _ok(ctx):
    return Outcome({"x": 1.0}, Verdict(Status.PASS, "x is 1"), "x = 1", [md_table(["a"], [[1.0]])])


def _boom(ctx):
    raise RuntimeError("deliberate crash")


OK = Track(98, "fake ok", "claim ok", "experiment ok", "criterion ok", _ok)
BOOM = Track(99, "fake crash", "claim crash", "experiment crash", "criterion crash", _boom)


def test_registry_is_sorted_unique_and_described():
    tracks = all_tracks()
    numbers = [t.number for t in tracks]
    assert numbers == sorted(set(numbers))
    for t in tracks:
        assert t.claim and t.experiment and t.criterion and t.title
        assert t.module == f"tracks.t{t.number:02d}_" + t.module.split("_", 1)[1]
    assert not set(numbers) & {k for k in NOT_REGISTERED if isinstance(k, int)}


def test_get_tracks_unknown_number_names_the_reason(monkeypatch):
    monkeypatch.setitem(NOT_REGISTERED, 27, "Planted: a track waiting for something")
    with pytest.raises(ValueError, match="27: Planted: a track waiting for something"):
        get_tracks([27])
    with pytest.raises(ValueError, match="no registered track numbered 77"):
        get_tracks([77])


def test_crash_is_an_error_with_traceback_and_others_still_run(tmp_path, monkeypatch):
    monkeypatch.setitem(NOT_REGISTERED, 27, "Planted: a track waiting for something")
    report = run_tracks([BOOM, OK], Context(mode="tiny", out_dir=tmp_path), progress=False)
    boom, ok = report["tracks"]
    assert boom["status"] == "ERROR" and "deliberate crash" in boom["traceback"]
    assert ok["status"] == "PASS" and ok["metrics"] == {"x": 1.0}
    saved = json.loads((tmp_path / "tracks.json").read_text())
    assert [r["status"] for r in saved["tracks"]] == ["ERROR", "PASS"]
    nb = (tmp_path / "verification_notebook.md").read_text()
    for needle in ("## Executive summary", "## Track 99: fake crash", "deliberate crash", "**Claim.** claim ok",
                   "**Pass criterion.** criterion ok", "1 PASS, 1 ERROR", "27: Planted: a track waiting"):
        assert needle in nb
    assert "ERROR" in summary_table(report)


def test_track_returning_unserialisable_metrics_is_an_error(tmp_path):
    bad = Track(97, "bad", "c", "e", "k", lambda ctx: Outcome({"x": object()}, Verdict(Status.PASS, "r"), "e"))
    (rec,) = run_tracks([bad], Context(mode="tiny", out_dir=tmp_path), progress=False, write=False)["tracks"]
    assert rec["status"] == "ERROR" and "serializable" in rec["reason"]


def test_context_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode must be one of tiny, quick, full, not 'fast'"):
        Context(mode="fast")


def test_cli_list_and_bad_track(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    for t in all_tracks():
        assert f"{t.number:2d}. {t.title}" in out
    assert main(["--track", "77"]) == 2
    assert "no registered track numbered 77" in capsys.readouterr().err


def test_cli_runs_a_track_and_writes_the_notebook(tmp_path, monkeypatch):
    import tracks.__main__ as cli

    monkeypatch.setattr(cli, "get_tracks", lambda numbers: [OK])
    assert cli.main(["--out", str(tmp_path), "--no-progress"]) == 0
    assert (tmp_path / "verification_notebook.md").exists()
    monkeypatch.setattr(cli, "get_tracks", lambda numbers: [BOOM])
    assert cli.main(["--out", str(tmp_path), "--no-progress"]) == 1


def test_same_command_same_numbers(tmp_path):
    from tracks.t18_energy import TRACK as t18

    a = run_tracks([t18], Context(mode="tiny", out_dir=tmp_path / "a"), progress=False, write=False)
    b = run_tracks([t18], Context(mode="tiny", out_dir=tmp_path / "b"), progress=False, write=False)
    assert a["tracks"][0]["metrics"] == b["tracks"][0]["metrics"]


def test_a_run_merges_into_the_earlier_report_and_chains_its_origin(tmp_path):
    from tracks.runner import previous_report

    first = run_tracks([OK, BOOM], Context(mode="tiny", out_dir=tmp_path), progress=False)
    again = Track(98, "fake ok", "claim ok", "experiment ok", "criterion ok", _ok)
    second = run_tracks([again], Context(mode="quick", out_dir=tmp_path), progress=False)
    assert [r["number"] for r in second["tracks"]] == [98, 99] and second["mode"] == "mixed"
    assert second["merged"] == {"ran": [98], "kept": [99], "kept_from": first["generated"]}
    third = run_tracks([again], Context(mode="quick", out_dir=tmp_path), progress=False)
    assert third["merged"]["kept_from"] == first["generated"]       # where track 99's result came from
    assert previous_report(tmp_path)["tracks"][1]["reason"] == "RuntimeError: deliberate crash"
    assert "track 99 ERROR: RuntimeError: deliberate crash" in summary_table(third)
    assert "(each section states its mode)" in (tmp_path / "verification_notebook.md").read_text()


@pytest.mark.parametrize("text, message", [
    ("{", "not a readable tracks report"),
    ('{"tracks": [{"number": 1}]}', "not a tracks report"),
])
def test_an_earlier_file_that_is_not_a_report_is_refused_and_kept(tmp_path, text, message):
    (tmp_path / "tracks.json").write_text(text)
    ran = []
    probe = Track(96, "probe", "c", "e", "k", lambda ctx: ran.append(1) or _ok(ctx))
    with pytest.raises(ValueError, match=message):
        run_tracks([probe], Context(mode="tiny", out_dir=tmp_path), progress=False)
    assert not ran and (tmp_path / "tracks.json").read_text() == text
