"""Find (and with --fix remove) near-duplicate complaints in the shipped corpus.

A pair is a near-duplicate when the character 3-gram Jaccard similarity of the two texts is
above 0.6 (cityos.governance.classify.corpus.NEAR_DUPLICATE_JACCARD). --fix drops the later
complaint of each pair, the test one when the pair crosses the splits, so the held-out test
split never contains a near-copy of a training complaint. Run from the repository root:

    .venv/bin/python scripts/complaints_dedup.py          # report, exit 1 if any
    .venv/bin/python scripts/complaints_dedup.py --fix    # rewrite complaints.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys

from cityos.governance.classify.corpus import corpus_path, load_corpus, near_duplicates


def main() -> int:
    """Report near-duplicate pairs; with --fix, remove one complaint of each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fix", action="store_true", help="remove one complaint of each pair")
    args = parser.parse_args()
    items = load_corpus()
    pairs = near_duplicates(items)
    for a, b, score in pairs:
        print(f"{score:.2f}  {a.id} [{a.split}] {a.text}\n      {b.id} [{b.split}] {b.text}")
    print(f"{len(pairs)} near-duplicate pair(s) in {len(items)} complaints")
    if not pairs:
        return 0
    if not args.fix:
        return 1
    drop = {(b.id if b.split == "test" or a.split == b.split else a.id) for a, b, _ in pairs}
    kept = [c for c in items if c.id not in drop]
    with corpus_path().open("w", encoding="utf-8") as handle:
        for c in kept:
            row = {"id": c.id, "text": c.text, "service_code": c.service_code, "split": c.split}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"removed {len(drop)}: {', '.join(sorted(drop))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
