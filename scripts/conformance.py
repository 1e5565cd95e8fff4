#!/usr/bin/env python3
"""Run ETSI's NGSI-LD conformance test suite against CityOS and record the pass counts.

The suite (``ngsi-ld-test-suite``, Robot Framework, BSD-3-Clause, ETSI) is NOT part of this
repository: check it out somewhere else and install its requirements into a separate
virtualenv, then point this script at both::

    python3 -m venv /work/etsi-venv
    /work/etsi-venv/bin/pip install -r /work/etsi-suite/requirements.txt
    .venv/bin/python scripts/conformance.py --suite /work/etsi-suite \\
        --robot /work/etsi-venv/bin/robot                     # SQLite, a temp database
    .venv/bin/python scripts/conformance.py --suite /work/etsi-suite \\
        --robot /work/etsi-venv/bin/robot \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres   # a temp PG database
    .venv/bin/python scripts/conformance.py --suite ... --robot ... \\
        --broker-url http://127.0.0.1:8000                    # a broker already running

Without ``--broker-url`` the script starts ``cityos up`` itself on a free port, without the
built-in city (``CITYOS_SEED_CITY=false``), with authentication off (loopback only), with the
suite's own JSON-LD contexts mapped offline (``CITYOS_CONTEXT_FILES``), on a fresh database:
a temporary SQLite file, or, for a ``postgresql://`` URL (an administrative connection), a
temporary database created next to it and dropped afterwards.

It runs ``robot`` once per area (Retrieve, Query, Provision of entities and attributes, batch
operations, discovery, ``jsonldContext``), parses each ``output.xml``, prints a table of
pass / fail / skip per area and writes it into ``docs/conformance.md`` with the date, the
suite's commit, the backend and the machine. Only the block of the chosen backend, between
its ``<!-- conformance:BACKEND:begin/end -->`` markers, is rewritten; the rest of the file
(known failures and their reasons) is kept as people wrote it.

Out of scope (not built in CityOS yet): subscriptions and notifications, context-source
registrations and distributed operations.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

AREA_TIMEOUT = 1200  # [s] a whole area; a hung test must not hang the run
REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "conformance.md"
# Other public @contexts some tests name, as offline copies (their README says whence).
OFFLINE_CONTEXTS = REPO / "scripts" / "conformance_contexts"
EXTRA_CONTEXTS = {
    "https://fiware.github.io/NGSI-LD_TestSuite/ldContext/testContext.jsonld": "testContext.jsonld",
}

# Area name -> folders (relative to the suite's TP/NGSI-LD) whose tests it runs.
AREAS: dict[str, tuple[str, ...]] = {
    "Retrieve entity": ("ContextInformation/Consumption/Entity/RetrieveEntity",),
    "Query entities": ("ContextInformation/Consumption/Entity/QueryEntities",),
    "Provision: entities (create, delete, merge, replace)": (
        "ContextInformation/Provision/Entities",
    ),
    "Provision: attributes (append, update, partial update, replace, delete)": (
        "ContextInformation/Provision/EntityAttributes",
    ),
    "Batch entity operations": ("ContextInformation/Provision/BatchEntities",),
    "Discovery (types, attributes)": ("ContextInformation/Consumption/Discovery",),
    "jsonldContext (@context hosting)": ("jsonldContext",),
    "Temporal: retrieve and query": ("ContextInformation/Consumption/TemporalEntity",),
    "Temporal: provision (entities, attributes, instances)": (
        "ContextInformation/Provision/TemporalEntity",
        "ContextInformation/Provision/TemporalEntityAttributes",
    ),
    "Subscriptions and notifications": ("ContextInformation/Subscription",),
}


@dataclass
class TestResult:
    """One Robot test case's outcome."""

    suite: str  # the .robot file, relative to TP/NGSI-LD
    name: str
    status: str  # PASS, FAIL or SKIP
    message: str
    since: str = ""  # the spec version that brought the tested feature (a since_vX.Y.Z tag)


@dataclass
class AreaResult:
    """The outcomes of one area's run."""

    name: str
    tests: list[TestResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        """Return how many tests ended with ``status``."""
        return sum(1 for test in self.tests if test.status == status)


def parse_output(output_xml: Path, tp_root: Path) -> list[TestResult]:
    """Return every test case of a Robot ``output.xml`` with its status and message."""
    results: list[TestResult] = []
    root = ET.parse(output_xml).getroot()
    for suite in root.iter("suite"):
        source = suite.get("source", "")
        try:
            rel = Path(source).resolve().relative_to(tp_root.resolve()).as_posix()
        except ValueError:
            rel = source
        for test in suite.findall("test"):
            status = test.find("status")
            if status is None:
                continue
            message = (status.text or "").strip().replace("\n", " ")
            tags = [tag.text or "" for tag in test.findall("tag")]
            since = next((t[len("since_v") :] for t in tags if t.startswith("since_v")), "")
            results.append(
                TestResult(rel, test.get("name", "?"), status.get("status", "FAIL"), message, since)
            )
    return results


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Test data that still names the upstream home of the suite's compound @context (Easy Global
# Market's NGSI-LD API data models, the V1.8 test-suite context) instead of the URL in
# ``resources/variables.py`` (e.g. data/entities/country-simple-attributes.jsonld, used by
# 018_20/018_21 and 019_22/019_23). Its terms are the suite's own: it maps to the same file.
UPSTREAM_COMPOUND_CONTEXTS = (
    "https://easy-global-market.github.io/ngsild-api-data-models/ngsildTestSuite/"
    "ngsildTestSuiteV1.8-compound.jsonld",
)


def suite_context_files(suite: Path) -> dict[str, str]:
    """Map the suite's @context URLs to its own files, so the broker resolves them offline.

    The suite names its compound context in ``resources/variables.py``
    (``ngsild_test_suite_context``); its sibling files live under the same URL folder.
    The upstream compound context (UPSTREAM_COMPOUND_CONTEXTS) maps to the same file.
    """
    folder = suite / "resources" / "jsonld-contexts"
    tree = ast.parse((suite / "resources" / "variables.py").read_text(encoding="utf-8"))
    context_url = ""
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(
                isinstance(t, ast.Name) and t.id == "ngsild_test_suite_context"
                for t in node.targets
            )
            and isinstance(node.value, ast.Constant)
        ):
            context_url = str(node.value.value)
    extra = {url: str(OFFLINE_CONTEXTS / name) for url, name in EXTRA_CONTEXTS.items()}
    if not context_url:
        return extra
    base = context_url.rsplit("/", 1)[0]
    files = {f"{base}/{path.name}": str(path) for path in sorted(folder.glob("*.jsonld"))}
    if context_url in files:
        files.update(dict.fromkeys(UPSTREAM_COMPOUND_CONTEXTS, files[context_url]))
    return {**extra, **files}


def suite_commit(suite: Path, given: str | None) -> str:
    """Return the suite's commit: the one given, its git HEAD, or a ``.suite-commit`` file."""
    if given:
        return given
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(
            ["git", "-C", str(suite), "rev-parse", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()
    marker = suite / ".suite-commit"
    if marker.exists():
        return marker.read_text(encoding="utf-8").strip()
    return "unknown"


@contextlib.contextmanager
def temporary_database(database_url: str | None, workdir: Path) -> Iterator[tuple[str, str]]:
    """Yield (URL, backend name) of a fresh database; drop a PostgreSQL one afterwards."""
    if database_url is None or database_url.startswith("sqlite"):
        yield f"sqlite:///{workdir / 'cityos.db'}", "SQLite"
        return
    import psycopg  # in the project's venv; only needed for a PostgreSQL run

    name = f"cityos_conformance_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        version = conn.execute("SHOW server_version").fetchone()
    try:
        pg = f"PostgreSQL {version[0].split()[0]}" if version else "PostgreSQL"
        yield database_url.rsplit("/", 1)[0] + "/" + name, pg
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_healthy(base_url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until ``/healthz`` answers 200, or raise when the broker died or took too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"cityos exited with {process.returncode} before it was ready")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as answer,
        ):
            if answer.status == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"cityos did not become healthy within {timeout:.0f} s")


@contextlib.contextmanager
def running_cityos(database_url: str, context_files: dict[str, str], log: Path) -> Iterator[str]:
    """Start ``cityos up`` on a free port and yield its base URL; stop it afterwards."""
    cityos = Path(sys.executable).parent / "cityos"
    executable = str(cityos) if cityos.exists() else shutil.which("cityos") or "cityos"
    port = free_port()
    env = dict(os.environ)
    env.update(
        CITYOS_SEED_CITY="false",
        CITYOS_DATABASE_URL=database_url,
        CITYOS_CONTEXT_FILES=json.dumps(context_files),
        CITYOS_LOG_LEVEL="warning",
        # the suite sends no credentials: a loopback-only broker with authentication off
        CITYOS_AUTH="off",
        # the suite's paging tests expect temporal answers cut below 20 instances
        CITYOS_TEMPORAL_MAX_INSTANCES="10",
        CITYOS_TWIN_LIVE="off",
    )
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [executable, "up", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            # a fresh database is migrated first; on a shared, loaded machine that took > 60 s
            wait_healthy(base_url, process, timeout=240)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _local_servers() -> list[str]:
    """Return robot ``--variable`` options putting the suite's helper servers on 127.0.0.1."""
    options = []
    for name in ("notification_server", "context_source", "context_server"):
        options += ["--variable", f"{name}_host:127.0.0.1"]
        options += ["--variable", f"{name}_port:{free_port()}"]
    # MQTT notification tests publish through the local Mosquitto (127.0.0.1:1883); those
    # that need a second broker on a non-default port fail here.
    options += ["--variable", "mqtt_broker_host:127.0.0.1"]
    return options


def run_area(
    robot: str, suite: Path, area: str, folders: tuple[str, ...], broker_url: str, out: Path
) -> AreaResult:
    """Run robot on one area's folders and return its test results."""
    tp_root = suite / "TP" / "NGSI-LD"
    out.mkdir(parents=True, exist_ok=True)
    output_xml = out / "output.xml"
    command = [
        robot,
        "--outputdir",
        str(out),
        "--output",
        "output.xml",
        "--log",
        "log.html",
        "--report",
        "NONE",
        "--console",
        "dotted",
        "--name",
        area,
        "--variable",
        f"url:{broker_url.rstrip('/')}/ngsi-ld/v1",
        "--variable",
        f"temporal_api_url:{broker_url.rstrip('/')}/ngsi-ld/v1",
        # Helper servers some tests start (a @context server, a notification endpoint)
        # listen on this machine, not on the suite's default Docker addresses.
        *_local_servers(),
        *(str(tp_root / folder) for folder in folders),
    ]
    # The suite's resources import ${EXECDIR}/resources/variables.py: run from its root.
    try:
        subprocess.run(
            command, cwd=suite, check=False, stdout=subprocess.DEVNULL, timeout=AREA_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        print(f"  {area}: robot took over {AREA_TIMEOUT} s and was stopped", file=sys.stderr)
    result = AreaResult(area)
    if output_xml.exists():
        result.tests = parse_output(output_xml, tp_root)
    return result


def machine() -> str:
    """Describe this machine in one line."""
    cpu = platform.processor() or platform.machine()
    return (
        f"{platform.node()}, {platform.system()} {platform.release()}, {cpu}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )


def table(results: list[AreaResult]) -> str:
    """Return the per-area pass/fail table as Markdown."""
    lines = ["| area | tests | pass | fail | skip | pass rate |", "|---|---:|---:|---:|---:|---:|"]
    for res in [*results, AreaResult("**total**", [t for r in results for t in r.tests])]:
        total = len(res.tests)
        rate = f"{100 * res.count('PASS') / total:.0f} %" if total else "–"
        lines.append(
            f"| {res.name} | {total} | {res.count('PASS')} | {res.count('FAIL')} "
            f"| {res.count('SKIP')} | {rate} |"
        )
    return "\n".join(lines)


def failures(results: list[AreaResult]) -> str:
    """Return the failing tests as a Markdown list (suite file, test name, short message)."""
    lines = []
    for res in results:
        for test in res.tests:
            if test.status == "FAIL":
                message = test.message[:160] + ("…" if len(test.message) > 160 else "")
                message = message.replace("|", "\\|").replace("`", "'")
                lines.append(f"- `{test.suite}` {test.name}: {message}")
    return "\n".join(lines) if lines else "(none)"


def failures_by_version(results: list[AreaResult]) -> str:
    """Return how many failing tests each spec version (a ``since_v`` tag) brought."""
    counts: dict[str, int] = {}
    for res in results:
        for test in res.tests:
            if test.status == "FAIL":
                key = test.since or "untagged"
                counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{version}: {n}" for version, n in sorted(counts.items())) or "none"


def report_block(results: list[AreaResult], backend: str, commit: str, elapsed: float) -> str:
    """Return the generated Markdown block for one backend."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"### {backend}\n\n"
        f"- date: {now}\n- suite commit: `{commit}`\n- backend: {backend}\n"
        f"- machine: {machine()}\n- run time: {elapsed:.0f} s\n\n"
        f"{table(results)}\n\n"
        f"Failing tests by the spec version that brought the feature: "
        f"{failures_by_version(results)}.\n\n"
        f"<details><summary>failing tests ({sum(r.count('FAIL') for r in results)})"
        f"</summary>\n\n{failures(results)}\n\n</details>\n"
    )


DOC_TEMPLATE = """# NGSI-LD conformance (ETSI test suite)

CityOS's hub run against ETSI's NGSI-LD conformance test suite (`ngsi-ld-test-suite`,
Robot Framework) by `scripts/conformance.py`; the tables below are written by that script.
Subscriptions and notifications, the temporal API, context-source registrations and
distributed operations are not built yet, so their test areas are not run.

## Results

## Known failures

"""


def write_doc(doc: Path, backend: str, block: str) -> None:
    """Write one backend's block into the report, keeping everything else in it."""
    key = backend.split()[0].lower()
    begin, end = f"<!-- conformance:{key}:begin -->", f"<!-- conformance:{key}:end -->"
    text = doc.read_text(encoding="utf-8") if doc.exists() else DOC_TEMPLATE
    generated = f"{begin}\n{block}{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + generated + rest.split(end, 1)[1]
    elif "## Known failures" in text:
        head, tail = text.split("## Known failures", 1)
        text = head.rstrip("\n") + f"\n\n{generated}\n\n## Known failures" + tail
    else:
        text = text.rstrip("\n") + f"\n\n{generated}\n"
    doc.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run the chosen areas of the suite and report; return 0, or 1 when a test failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, required=True, help="checkout of the suite")
    parser.add_argument("--robot", default="robot", help="robot executable (separate venv)")
    parser.add_argument("--broker-url", help="test this running broker (http://host:port)")
    parser.add_argument(
        "--database-url",
        help="sqlite (default) or an admin postgresql:// URL to create a temporary database on",
    )
    parser.add_argument("--area", action="append", choices=list(AREAS), help="run only these areas")
    parser.add_argument("--suite-commit", help="the suite's commit, when not a git checkout")
    parser.add_argument("--output-dir", type=Path, help="keep robot's outputs here")
    parser.add_argument("--doc", type=Path, default=DOC, help="report file to update")
    parser.add_argument("--no-doc", action="store_true", help="only print the table")
    args = parser.parse_args(argv)

    suite: Path = args.suite.resolve()
    if not (suite / "TP" / "NGSI-LD").is_dir():
        parser.error(f"{suite} is not a checkout of ngsi-ld-test-suite (no TP/NGSI-LD)")
    areas = {name: AREAS[name] for name in args.area} if args.area else AREAS
    context_files = suite_context_files(suite)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cityos-conformance-") as tmp:
        workdir = Path(tmp)
        outdir = args.output_dir.resolve() if args.output_dir else workdir / "robot"
        results = []
        backend = "external broker"
        for index, (area, folders) in enumerate(areas.items(), 1):
            print(f"[{index}/{len(areas)}] {area} …", file=sys.stderr, flush=True)
            # Each area gets a fresh, empty database: discovery tests count every type.
            with contextlib.ExitStack() as stack:
                if args.broker_url:
                    broker_url = args.broker_url
                else:
                    areadir = workdir / f"{index:02d}"
                    areadir.mkdir()
                    db_url, backend = stack.enter_context(
                        temporary_database(args.database_url, areadir)
                    )
                    broker_url = stack.enter_context(
                        running_cityos(db_url, context_files, areadir / "cityos.log")
                    )
                out = outdir / f"{index:02d}"
                results.append(run_area(args.robot, suite, area, folders, broker_url, out))
    elapsed = time.monotonic() - started
    print(f"\n{backend}, suite {suite_commit(suite, args.suite_commit)[:12]}\n")
    print(table(results))
    if not args.no_doc:
        block = report_block(results, backend, suite_commit(suite, args.suite_commit), elapsed)
        write_doc(args.doc, backend, block)
        print(f"\nwritten to {args.doc}")
    return 1 if any(r.count("FAIL") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
