"""A real-text index of thaigov-v2 news items, grown in batches that survive a stop: the base of the
filtered scale benchmark (benchmarks.filtered_scale).

    python -m benchmarks.thaigov_index [--items N] [--every K] [--home data/scale/thaigov] [--batch 250]

Items are taken every K-th of the file (spread over 2020–2025 and over every category), each a
Document with its date and its category as the tag ``category`` (the source path's folder name).
The first batch is a build; every later one an update (its own version), so a run stopped part
way keeps what it encoded, and the same command goes on from there. Encoding is the slow part:
about 30 passages a second on two cores, passages and sentences alike (decision 012).
Kept outside the repository (``data/`` is ignored).
"""

from __future__ import annotations

import json
import lzma
import re
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks import common
from corpus.document import Document

THAIGOV = common.ROOT.parent / "shared" / "datasets" / "thaigov-v2" / "thaigov.jsonl.xz"
HOME = common.ROOT / "data" / "scale" / "thaigov"
_CATEGORY = re.compile(r"^\d{4}/\d{2}/\d{2}/(.+?)_\d+$")


def category_of(item_id: str) -> str:
    """The category in an item's source path (``2021/03/04/ด้านเศรษฐกิจ_12``), trimmed."""
    found = _CATEGORY.match(item_id)
    return (found.group(1) if found else "other").strip()[:200] or "other"


def documents(items: int, every: int) -> Iterator[Document]:
    """Every ``every``-th dated item of the file, up to ``items`` of them."""
    taken = 0
    with lzma.open(THAIGOV, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f):
            if n % every or taken >= items:
                continue
            row = json.loads(line)
            if not row.get("date") or not row.get("text", "").strip():
                continue
            taken += 1
            yield Document(
                row["id"],
                row["text"],
                row.get("title") or row["id"],
                date=row["date"],
                language="th",
                tags={"category": category_of(row["id"])},
            )


def main() -> None:
    p = common.parser(__doc__, "thaigov-index.json")
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--every", type=int, default=6)
    p.add_argument("--home", type=Path, default=HOME)
    p.add_argument("--batch", type=int, default=250)
    args = p.parse_args()

    from index.build.write import build_index, update_index
    from index.encoders.factory import load_embedder
    from index.folder.load import index_exists, load_index
    from service.settings import Settings

    settings = Settings()
    embedder = load_embedder(settings.encoder_config())
    config = settings.index_config()
    have: set[str] = set()
    if index_exists(args.home):
        have = set(load_index(args.home, embedder).documents.doc_ids)
    wanted = [d for d in documents(args.items, args.every) if d.doc_id not in have]
    print(f"{len(have)} items indexed already, {len(wanted)} to go", flush=True)
    started = time.perf_counter()
    for i in range(0, len(wanted), args.batch):
        batch = wanted[i : i + args.batch]
        if not have and i == 0:
            manifest = build_index(batch, embedder, config, args.home)
        else:
            manifest = update_index(args.home, embedder, config, upsert=batch).manifest
        corpus = manifest["corpus"]
        elapsed = time.perf_counter() - started
        print(
            f"{corpus['documents']} items, {corpus['chunks']} passages ({elapsed / 60:.1f} min)",
            flush=True,
        )


if __name__ == "__main__":
    main()
