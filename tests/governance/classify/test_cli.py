"""``cityos complaints classify`` and ``evaluate`` end to end, good and bad lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cityos.cli import app
from cityos.governance.classify.model import ComplaintClassifier

runner = CliRunner()

GOOD_AND_BAD = (
    '{"id": 1, "text": "가로등이 꺼졌어요"}\n'
    '{"id": "a-2", "text": ""}\n'
    "this is not json\n"
    "\n"
    '{"text": "id가 없어요"}\n'
    '["id", "text"]\n'
    '{"id": 3, "text": 42}\n'
    '{"id": "x4", "text": "도담동 상가 앞 불법주차 때문에 버스가 못 지나가요"}\n'
)


def _rows(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_classify_a_file_reports_bad_lines_by_number_and_keeps_going(
    as_default: ComplaintClassifier, tmp_path: Path
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(GOOD_AND_BAD, encoding="utf-8")
    result = runner.invoke(app, ["complaints", "classify", "--input", str(path)])
    assert result.exit_code == 1
    rows = _rows(result.stdout)
    assert [(r["id"], r["service_code"]) for r in rows] == [(1, "streetlight"), ("x4", "parking")]
    for row in rows:
        assert 0 < float(row["confidence"]) <= 1  # type: ignore[arg-type]
        assert row["department"]
        assert row["department_en"]
        assert len(row["top3"]) == 3  # type: ignore[arg-type]
    err = result.stderr
    assert "line 2 / 2번째 줄: text is empty" in err
    assert "line 3 / 3번째 줄: not valid JSON" in err
    assert 'line 5 / 5번째 줄: missing "id"' in err
    assert "line 6 / 6번째 줄: expected an object" in err
    assert "line 7 / 7번째 줄: text must be a string" in err
    assert "line 4" not in err  # a blank line is no complaint and no error
    assert "5 bad line(s) skipped, 2 classified" in err


def test_classify_reads_stdin_and_exits_0_when_every_line_is_good(
    as_default: ComplaintClassifier,
) -> None:
    lines = "".join(
        json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n"
        for i, t in enumerate(["수돗물에서 녹물이 나와요", "공사장 먼지가 심해요"])
    )
    result = runner.invoke(app, ["complaints", "classify", "--input", "-"], input=lines)
    assert result.exit_code == 0, result.stderr
    assert [r["service_code"] for r in _rows(result.stdout)] == ["water", "construction"]
    assert "2 classified" in result.stderr


def test_classify_a_missing_file_exits_2_saying_so(as_default: ComplaintClassifier) -> None:
    result = runner.invoke(app, ["complaints", "classify", "--input", "/nonexistent.jsonl"])
    assert result.exit_code == 2
    assert "no such input file" in result.stderr
    assert "입력 파일이 없습니다" in result.stderr
    assert result.stdout == ""


def test_evaluate_prints_the_scores_of_the_test_split(as_default: ComplaintClassifier) -> None:
    result = runner.invoke(app, ["complaints", "evaluate", "--json"])
    assert result.exit_code == 0, result.stderr
    scores = json.loads(result.stdout)
    assert scores["accuracy"] >= 0.85
    assert [r["service_code"] for r in scores["per_code"]] == scores["codes"]
    table = runner.invoke(app, ["complaints", "evaluate", "--show-errors"]).stdout
    assert "| code | precision | recall | F1 | n |" in table
    assert "| true | suggested |" in table


@pytest.mark.slow
def test_the_installed_command_trains_on_first_use_and_pipes(tmp_path: Path) -> None:
    # A real process in an empty folder: trains from the shipped corpus, caches in var/.
    cityos = Path(sys.executable).with_name("cityos")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOS_")}
    done = subprocess.run(
        [str(cityos), "complaints", "classify", "--input", "-"],
        input='{"id": 7, "text": "가로등이 꺼졌어요"}\n{"id": 8}\n'.encode(),
        capture_output=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1
    assert [r["id"] for r in _rows(done.stdout.decode())] == [7]
    assert _rows(done.stdout.decode())[0]["service_code"] == "streetlight"
    assert 'line 2 / 2번째 줄: missing "text"' in done.stderr.decode()
    assert list((tmp_path / "var" / "complaints").glob("classifier-*.pickle"))
