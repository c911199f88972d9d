"""What the benchmarks share: their common arguments, one way to write a result, the machine's facts.

A benchmark imports product code (corpus, index, service, eval) and this module, never another
benchmark. The machine facts that ``khamtop bench`` records come from ``eval.bench.machine``;
this adds the versions of the libraries that the figures depend on.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout: benchmarks are run from it
RESULTS = ROOT / "benchmarks" / "results"
IAPP = ROOT.parent / "shared" / "datasets" / "iapp-wiki-qa-dev"
# The quality figures the comparisons print, in this order.
COLUMNS = ("hit@1", "hit@5", "hit@10", "mrr@10", "answer_contains_evidence")
# Distributions whose version can move a figure.
LIBRARIES = (
    "numpy",
    "torch",
    "onnxruntime",
    "tokenizers",
    "faiss-cpu",
    "bm25s",
    "numba",
    "pythainlp",
    "nlpo3",
    "fastapi",
    "uvicorn",
)


def parser(
    doc: str, result: str, *, dataset: bool = False, iapp: bool = False, sample: int | None = None
) -> argparse.ArgumentParser:
    """A benchmark's argument parser: the first line of its docstring as the description, the rest
    as the epilog, and ``--out`` (``result``: its file under benchmarks/results/). ``dataset``
    adds ``--dataset DIR`` (None unless the benchmark ``set_defaults`` it); ``iapp`` adds
    ``--iapp N``, ``sample`` by default (None: all the questions), and ``--seed``. A benchmark
    adds its own options to what this returns."""
    first, _, rest = doc.strip().partition("\n")
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument(
        "--out",
        type=Path,
        nargs="?",
        const=RESULTS / result,
        default=None,
        metavar="FILE",
        help=f"write the result as JSON to FILE; --out alone: benchmarks/results/{result}",
    )
    parents = [out]
    if dataset:
        data = argparse.ArgumentParser(add_help=False)
        data.add_argument(
            "--dataset", type=Path, default=None, metavar="DIR", help="a dataset folder (contexts.jsonl, ...)"
        )
        parents.append(data)
    if iapp:
        questions = argparse.ArgumentParser(add_help=False)
        questions.add_argument(
            "--iapp",
            type=int,
            default=sample,
            metavar="N",
            help=f"a seeded sample of N iApp questions (0: none; default: {sample or 'all'})",
        )
        questions.add_argument("--seed", type=int, default=0, help="the sample's seed")
        parents.append(questions)
    return argparse.ArgumentParser(
        prog=_program(),
        description=first,
        epilog=rest,
        parents=parents,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def machine() -> dict:
    """The machine (CPU, SIMD flags, cores, Python, torch: ``eval.bench.machine``) and the
    versions of the libraries in ``LIBRARIES``."""
    from eval.bench import machine as facts

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return facts() | {"libraries": {name: version(name) for name in LIBRARIES}}


def _program() -> str:
    """How the running benchmark is started: ``python -m benchmarks.NAME``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return f"python -m {spec.name}" if spec and spec.name != "__main__" else f"python {sys.argv[0]}"


def command() -> str:
    """The command line that is running, as it would be typed from the checkout."""
    return " ".join([_program(), *map(shlex.quote, sys.argv[1:])])


def write_result(path: Path | None, result) -> None:
    """Write ``result`` as JSON to ``path`` (nothing when it is None), with the command line that
    produced it, when, and on what machine."""
    if path is None:
        return
    record = {
        "command": command(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "result": result,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", "utf-8")
    print(f"result: {path}", file=sys.stderr)


def gold_questions(corpus_dir: Path | None = None) -> list[str]:
    """The gold set's questions, asked of the bundled corpus (or ``corpus_dir``)."""
    from corpus.reader import read_folder
    from eval.datasets import GOLD, load_gold
    from service.settings import BUNDLED_CORPUS

    documents, _ = read_folder(corpus_dir or BUNDLED_CORPUS)
    return [q.question for q in load_gold(GOLD, documents).questions]


def eval_cache(settings, name: str) -> Path:
    """Where the quality benchmarks keep an index of one question set for ``settings``' backend
    (``data/eval-cache/BACKEND/NAME``): each backend's vectors apart, built once. ``onnx-int8-query``
    stores ONNX fp32's very vectors (the same fingerprint), so it shares onnx's."""
    backend = "onnx" if settings.embedding_backend == "onnx-int8-query" else settings.embedding_backend
    return settings.home / "data" / "eval-cache" / backend / name
