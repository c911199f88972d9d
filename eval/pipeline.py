"""``khamtop eval`` end to end: pick the question set, find or build the index, run, write reports."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from corpus.document import Document
from corpus.reader import read_folder
from eval.datasets import GOLD, DatasetError, EvalSet, load_dataset, load_gold
from eval.report import write_html, write_json
from eval.runner import EvalResult, run
from index.store.compat import Wanted
from index.encoders.base import Embedder
from index.search.retriever import Retriever
from index.store.manifest import IndexLoadError
from index.build.write import build_index
from index.build.embed import corpus_checksum
from index.folder.load import load_index, stale_reason
from service.settings import Settings
from service.state import engine_for, reader_for


@dataclass
class EvalOutput:
    result: EvalResult
    json_path: Path
    html_path: Path | None
    index_note: str


def _matching_index(path: Path, documents: list[Document], embedder: Embedder, settings: Settings):
    """The index at ``path`` if it was built from exactly these documents with these settings."""
    if stale_reason(path, Wanted.of_config(settings.encoder_config(), settings.chunker_config())) is not None:
        return None
    try:
        loaded = load_index(path, embedder)
    except IndexLoadError:
        return None
    if settings.index_config().engine_mismatch(loaded.manifest) is not None:
        return None
    return loaded if loaded.manifest["corpus"]["checksum"] == corpus_checksum(documents) else None


def index_for(settings: Settings, embedder: Embedder, documents: list[Document], path: Path, progress: bool = False):
    """The index at ``path`` if it matches these documents and settings, else one built there."""
    loaded = _matching_index(path, documents, embedder, settings)
    if loaded is None:
        build_index(documents, embedder, settings.index_config(), path, progress=progress)
        loaded = load_index(path, embedder)
    return loaded


def evaluate(
    settings: Settings,
    embedder: Embedder,
    *,
    gold: Path | None = None,
    dataset: Path | None = None,
    index: Path | None = None,
    limit: int | None = None,
    seed: int = 0,
    out: Path | None = None,
    html: bool = True,
    progress: bool = False,
    mode: str | None = None,
    expand: bool = True,
    read: bool = True,
    split: str | None = None,
    ray: tuple[str, int] | None = None,
    collection: Path | None = None,
    only=None,
) -> EvalOutput:
    """``collection``: the home of a collection whose index is evaluated as it is (it must hold
    the question set's documents); else the index at ``index``, the cache, or one built."""
    if dataset is not None:
        eval_set: EvalSet = load_dataset(dataset).of_split(split)
        documents = eval_set.documents or []
        # Indexing a dataset takes minutes on two cores: keep it for the next run.
        cache = index or settings.home / "data" / "eval-cache" / dataset.name
    else:
        documents, problems = read_folder(settings.corpus_dir)
        if problems:
            raise DatasetError(f"the corpus has unreadable files: {', '.join(p.path for p in problems)}")
        eval_set = load_gold(gold or GOLD, documents)
        cache = index or settings.index_dir
    eval_set = eval_set.sample(limit, seed)

    with tempfile.TemporaryDirectory(prefix="khamtop-eval-") as tmp:
        if collection is not None:
            cache = collection
        loaded = _matching_index(cache, documents, embedder, settings)
        if loaded is None and collection is not None:
            raise DatasetError(
                f"the collection at {collection} does not hold exactly the question set's {len(documents)} documents "
                "(or was built with other settings): index them into it, or evaluate without --collection"
            )
        if loaded is not None:
            note = f"using the index at {cache}"
        else:
            target = cache if (dataset is not None or index is not None) else Path(tmp) / "index"
            if ray is None:
                build_index(documents, embedder, settings.index_config(), target, progress=progress)
            else:  # the embedding on a Ray cluster: (address, actors)
                from index.build.ray import build_index_ray

                config = settings.index_config()
                build_index_ray(documents, embedder, settings.encoder_config(), config, target, *ray, progress)
            loaded = load_index(target, embedder)
            note = f"built an index of {len(documents)} documents at {target}" + (
                " (temporary)" if target.is_relative_to(tmp) else ""
            )
        result = run(
            eval_set,
            Retriever(
                embedder,
                loaded,
                settings.search_config(),
                reader=reader_for(settings) if read else None,
                engine=engine_for(settings, loaded),
            ),
            progress=progress,
            mode=mode or settings.search_mode,
            expand=expand,
            read=read,
            only=only,
        )
        documents_by_id = loaded.documents

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = out or settings.home / "data" / "eval" / f"{Path(eval_set.name.split(' ')[0]).name}-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "results.json"
    write_json(result, json_path)
    html_path = None
    if html:
        html_path = out / "report.html"
        write_html(result, documents_by_id, html_path)
    return EvalOutput(result, json_path, html_path, note)
