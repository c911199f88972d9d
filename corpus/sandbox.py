"""Reading a file nobody vouches for (an upload) in a child process that cannot freeze or exhaust
the service: the child has a memory limit and a CPU limit, the parent a wall-clock deadline after
which the child is killed, and zipped formats are refused before they inflate past a limit.

    document = read_untrusted(data, "laws/pdpa", ".docx", {"title": "..."}, limits)

Raises ``FileRefused`` with the HTTP status that fits (413: too large to read within the limits;
422: not readable) and a message a person can act on. The child is a fresh interpreter
(``python -m corpus.sandbox``): nothing of the service's memory is shared with it.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import zipfile
from dataclasses import asdict, dataclass

from corpus.document import Document, check_metadata

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParseLimits:
    """Built from the settings (``Settings.parse_limits``)."""

    memory_mb: int  # the child's address space
    seconds: float  # wall clock, start-up included
    inflated_mb: int  # what a zipped file (.docx) may inflate to
    pages: int  # a PDF's pages


class FileRefused(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _child_env() -> dict[str, str]:
    """What the reader's process is given: no keys or other settings of the service's (nothing of
    ``KHAMTOP_*``), one thread for the libraries that would start more."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR")}
    return {**keep, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def read_untrusted(data: bytes, doc_id: str, suffix: str, meta: dict, limits: ParseLimits) -> Document:
    header = json.dumps({"doc_id": doc_id, "suffix": suffix, "meta": meta, "limits": asdict(limits)})
    try:
        done = subprocess.run(
            # -I: isolated (no working folder or user site on the path, no PYTHON* variables).
            [sys.executable, "-I", "-m", "corpus.sandbox"],
            input=header.encode() + b"\n" + data,
            capture_output=True,
            timeout=limits.seconds,
            env=_child_env(),
        )
    except subprocess.TimeoutExpired:  # run() has killed it
        raise _too_slow(limits) from None
    if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and not done.stdout:
        # The kernel's kill at the CPU limit, or out of memory.
        raise _too_slow(limits) if done.returncode == -signal.SIGXCPU else _out_of_memory(limits)
    try:
        answer = json.loads(done.stdout.decode())
    except ValueError:
        # Died another way: the reader's fault, not the file's size. The operator needs its words.
        log.error(
            "the upload reader failed (exit %s): %s", done.returncode, done.stderr.decode(errors="replace")[-2000:]
        )
        raise FileRefused(422, "the file could not be read (the reader failed; the service's log says why)") from None
    if "error" in answer:
        raise FileRefused(answer["status"], answer["error"])
    document = Document(**answer["document"])
    try:
        check_metadata(answer["document"])  # the child checked it; the service takes nothing longer
    except ValueError as exc:
        raise FileRefused(422, str(exc)) from None
    return document


def _too_slow(limits: ParseLimits) -> FileRefused:
    return FileRefused(422, f"reading the file took longer than {limits.seconds:g} s; it was stopped")


def _out_of_memory(limits: ParseLimits) -> FileRefused:
    return FileRefused(413, f"reading the file needed more than the {limits.memory_mb:,} MB it may use; it was stopped")


def check_size(data: bytes, suffix: str, limits: ParseLimits) -> None:
    """Refuse, before reading, what would inflate or run past the limits."""
    suffix = suffix.lower()
    if suffix == ".docx":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                inflated = sum(info.file_size for info in archive.infolist())
        except zipfile.BadZipFile as exc:
            raise FileRefused(422, f"not a readable .docx file: {exc}") from None
        if inflated > limits.inflated_mb << 20:
            raise FileRefused(
                413, f"the .docx inflates to {inflated / 2**20:,.0f} MB, over the limit of {limits.inflated_mb:,} MB"
            )
    if suffix == ".pdf":
        import pypdf
        from pypdf.errors import PdfReadError

        try:
            pages = len(pypdf.PdfReader(io.BytesIO(data)).pages)
        except (PdfReadError, ValueError, KeyError, TypeError) as exc:
            raise FileRefused(422, f"not a readable PDF: {exc}") from None
        if pages > limits.pages:
            raise FileRefused(413, f"the PDF has {pages:,} pages, over the limit of {limits.pages:,}")


def _child() -> None:
    import resource

    header, _, data = sys.stdin.buffer.read().partition(b"\n")
    job = json.loads(header)
    limits = ParseLimits(**job["limits"])
    memory = limits.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a reader killed at its limits leaves no core file
    cpu = int(limits.seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    from corpus.reader import MetadataError, document_from_bytes

    try:
        check_size(data, job["suffix"], limits)
        document = document_from_bytes(data, job["doc_id"], job["suffix"], job["meta"])
        answer = {"document": asdict(document)}
    except FileRefused as exc:
        answer = {"error": str(exc), "status": exc.status}
    except MetadataError as exc:  # its message names the field
        answer = {"error": str(exc), "status": 422}
    except MemoryError:
        refused = _out_of_memory(limits)
        answer = {"error": str(refused), "status": refused.status}
    except RecursionError:
        answer = {"error": "the file is nested too deeply to read", "status": 422}
    except Exception as exc:  # a parser's own error on a malformed file: the file, not the service, is wrong
        answer = {"error": f"the file cannot be read: {type(exc).__name__}: {str(exc)[:300]}", "status": 422}
    sys.stdout.write(json.dumps(answer, ensure_ascii=False))


if __name__ == "__main__":
    _child()
