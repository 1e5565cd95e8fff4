"""``cityos complaints classify`` (batch routing of JSONL) and ``cityos complaints evaluate``.

``classify`` reads one JSON object a line, ``{"id": …, "text": …}``, from a file or stdin
(``--input -``) and writes one line per good input line to stdout, in input order::

    {"id": …, "service_code": …, "confidence": …, "department": …, "department_en": …,
     "top3": [{"service_code": …, "confidence": …}, …]}

A bad line (not JSON, no id, no text, empty or too long text) is reported on stderr with
its line number, in Korean and English, and skipped; the other lines are still classified.
The exit code is 0 when every line was classified, 1 when some were not, 2 when the input
cannot be read at all.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from cityos.governance.classify.text import ClassifyError, check_text

if TYPE_CHECKING:  # scikit-learn and Kiwi load only when a command runs (~2 s)
    from cityos.governance.classify.model import ComplaintClassifier, Suggestion

complaints_app = typer.Typer(
    help="Civil complaints: automatic routing by the Korean text classifier (민원 자동 분류).",
    no_args_is_help=True,
)
console = Console(stderr=True, highlight=False, soft_wrap=True)
BATCH = 256  # lines classified together: Kiwi and the SVM are much faster on batches


class LineError(ValueError):
    """One input line is not a ``{"id": …, "text": …}`` object."""


def parse_line(raw: bytes) -> tuple[Any, str]:
    """Return ``(id, text)`` of one JSONL input line, or raise LineError saying what is wrong."""
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise LineError("not UTF-8 text / UTF-8 문자열이 아닙니다") from exc
    except json.JSONDecodeError as exc:
        raise LineError(f"not valid JSON ({exc.msg}) / 올바른 JSON이 아닙니다") from exc
    if not isinstance(row, dict):
        raise LineError('expected an object {"id": …, "text": …} / 객체가 아닙니다')
    if "id" not in row or row["id"] is None or isinstance(row["id"], dict | list):
        raise LineError('missing "id" (a string or number) / "id"가 없습니다')
    if "text" not in row:
        raise LineError('missing "text" / "text"가 없습니다')
    try:
        text = check_text(row["text"])
    except ClassifyError as exc:
        raise LineError(str(exc)) from exc
    return row["id"], text


def _lines(source: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, raw in enumerate(source, start=1):
        if raw.strip():
            yield number, raw


def _write(out: IO[str], ident: Any, s: Suggestion) -> None:
    row = {
        "id": ident,
        "service_code": s.service_code,
        "confidence": s.confidence,
        "department": s.department,
        "department_en": s.department_en,
        "top3": [{"service_code": r.service_code, "confidence": r.confidence} for r in s.top3],
    }
    out.write(json.dumps(row, ensure_ascii=False) + "\n")


def classify_stream(
    source: IO[bytes], out: IO[str], err: IO[str], model: ComplaintClassifier
) -> tuple[int, int]:
    """Classify every good line of ``source`` to ``out``; report bad ones to ``err``.

    Returns ``(classified, bad)`` line counts.
    """
    done = bad = 0
    pending: list[tuple[Any, str]] = []

    def flush() -> None:
        nonlocal done
        if pending:
            for (ident, _), s in zip(
                pending, model.suggest_many([t for _, t in pending]), strict=True
            ):
                _write(out, ident, s)
            out.flush()
            done += len(pending)
            pending.clear()

    for number, raw in _lines(source):
        try:
            pending.append(parse_line(raw))
        except LineError as exc:
            bad += 1
            err.write(f"line {number} / {number}번째 줄: {exc}\n")
            continue
        if len(pending) >= BATCH:
            flush()
    flush()
    return done, bad


def _utf8(stream: IO[str]) -> None:
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(encoding="utf-8")


@complaints_app.command()
def classify(
    input: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help='JSONL file of {"id": …, "text": …} lines, or - for stdin '
            "(입력 JSONL 파일, - 는 표준 입력)",
        ),
    ],
) -> None:
    """Suggest the service code and department of every complaint (민원 분류)."""
    _utf8(sys.stdout)  # JSON Lines are UTF-8 whatever the locale says
    if input == "-":
        source: IO[bytes] = sys.stdin.buffer
    else:
        path = Path(input)
        if not path.is_file():
            console.print(
                f"[red]입력 파일이 없습니다 / no such input file:[/red] {input} "
                "(give a JSONL file or - for stdin / JSONL 파일 또는 - 를 주세요)"
            )
            raise typer.Exit(2)
        source = path.open("rb")
    from cityos.governance.classify.model import default_classifier

    try:
        done, bad = classify_stream(source, sys.stdout, sys.stderr, default_classifier())
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    if bad:
        console.print(
            f"[red]{bad}개 줄 오류, {done}개 분류 / {bad} bad line(s) skipped, "
            f"{done} classified[/red]"
        )
        raise typer.Exit(1)
    console.print(f"{done}개 분류 완료 / {done} classified")


@complaints_app.command("evaluate")
def evaluate_command(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the scores as JSON (JSON으로 출력)")
    ] = False,
    show_errors: Annotated[
        bool,
        typer.Option("--show-errors", help="List the misclassified test complaints (오분류 목록)"),
    ] = False,
) -> None:
    """Score the classifier on the corpus's held-out test split (시험 데이터 평가)."""
    from cityos.governance.classify.corpus import load_corpus, split
    from cityos.governance.classify.evaluation import evaluate, markdown
    from cityos.governance.classify.model import default_classifier

    result = evaluate(default_classifier(), split(load_corpus(), "test"))
    if as_json:
        sys.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(markdown(result) + "\n")
    if show_errors:
        sys.stdout.write(
            "\n| id | true | suggested | confidence | text |\n|---|---|---|---:|---|\n"
        )
        for c, code, conf in result.errors:
            sys.stdout.write(f"| {c.id} | {c.service_code} | {code} | {conf:.2f} | {c.text} |\n")
