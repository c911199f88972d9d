"""Thai-aware chunking: sentences packed under a token budget, with exact character offsets.

Every chunk is a slice ``text[char_start:char_end]`` of the (normalised) document text, so a
citation can always be resolved back to the stored document. Cuts fall only where a sentence,
a word or (last resort) a Thai character cluster ends, never inside one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from pythainlp.tokenize import sent_tokenize, tcc, word_tokenize

# Counts the embedding model's tokens for each text (no special tokens, no prompt).
TokenCounter = Callable[[Sequence[str]], list[int]]


@dataclass(frozen=True)
class ChunkerConfig:
    """How documents are cut into passages (the sizes come from the settings: ``Settings.chunker_config``)."""

    chunk_tokens: int  # a passage's budget, in the embedding model's tokens
    overlap_tokens: int  # tokens a passage repeats from the one before
    # PyThaiNLP's engines: a change moves every passage and citation, so they are part of the
    # index's manifest rather than settings.
    sentence_engine: str = "crfcut"
    word_engine: str = "newmm"
    # The most characters one call of either engine reads (``MAX_RUN``, below).
    max_run: int = 4_000

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Span:
    char_start: int
    char_end: int
    n_tokens: int


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    n_tokens: int


def _trimmed(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Shrink [start, end) to exclude surrounding whitespace; None if nothing is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def _pieces_to_spans(text: str, start: int, pieces: Sequence[str]) -> list[tuple[int, int]] | None:
    """Turn consecutive pieces of ``text[start:]`` into spans; None if they don't tile it exactly."""
    spans, pos = [], start
    for piece in pieces:
        if text.startswith(piece, pos):
            spans.append((pos, pos + len(piece)))
            pos += len(piece)
        else:
            return None
    return spans


def _lines(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for line in text.split("\n"):
        spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    return spans


# The most characters one call of PyThaiNLP's sentence or word segmenter is given. Both cost more
# than linear time in what they read, and the sentence model (crfcut) holds the GIL throughout: on a
# single line of 1 MB without a space it stalled every question 4.6 s, and a 3 MB upload took 15
# minutes (issue 26). A longer line is read a window at a time (``_line_sentences``), so the work is
# linear and no call holds the GIL for more than a few milliseconds. The bundled documents' longest
# line is 1,582 characters: lines this long are rare in prose, and lines within it are split exactly
# as before.
MAX_RUN = ChunkerConfig.max_run


def _cut(text: str, start: int, end: int) -> int:
    """Where to end a window of ``text[start:end]`` that must stop before ``end``: after its last
    whitespace in the second half, else at its last Thai character cluster boundary (never inside
    a cluster), else at ``end``."""
    for i in range(end - 1, start + (end - start) // 2, -1):
        if text[i].isspace():
            return i + 1
    # Clusters are a few characters long: a cluster segmentation of the last 64 characters agrees
    # with the whole text's everywhere but in its first and last clusters.
    tail = max(start, end - 64)
    clusters = _cluster_spans(text, tail, end)
    return clusters[-1][0] if len(clusters) > 2 else end


def _line_sentences(text: str, start: int, end: int, engine: str, max_run: int) -> tuple[list[tuple[int, int]], set]:
    """The sentence model's pieces of the line ``text[start:end]``, read at most ``max_run``
    characters at a time, and the starts of the pieces cut there only because a window ended.

    A window's last sentence may go on past it, so it is read again at the start of the next
    window (its other sentences are kept); a window that is one sentence throughout ends a piece
    where it was cut (after a space if it has one), which no later rule undoes."""
    pieces: list[tuple[int, int]] = []
    forced: set = set()
    pos = start
    while True:
        stop = end if end - pos <= max_run else _cut(text, pos, pos + max_run)
        # PyThaiNLP needs a string (it ignores crfcut when given a list of words).
        found = _pieces_to_spans(text, pos, sent_tokenize(text[pos:stop], engine=engine)) or [(pos, stop)]
        if stop == end:
            return pieces + found, forced
        found = found[:-1]
        if not found or found[-1][1] <= pos:  # one sentence throughout: it ends where the window does
            found = [(pos, stop)]
            forced.add(stop)
        pieces.extend(found)
        pos = found[-1][1]


def split_sentences(text: str, engine: str = "crfcut", max_run: int = MAX_RUN) -> list[tuple[int, int]]:
    """Sentence spans of ``text``: a line break always ends a sentence; within a line, PyThaiNLP,
    given at most ``max_run`` characters at a time (a longer stretch with no sentence end in it is
    cut there).

    A cut the sentence model proposes where there is no whitespace is undone: Thai separates
    sentences with a space, and a cut right after an abbreviation's dot ("ดศ.", "ครม.") or inside
    "(ดศ.)" would otherwise split a clause in two.
    """
    spans: list[tuple[int, int]] = []
    for line_start, line_end in _lines(text):
        line = text[line_start:line_end]
        if not line.strip():
            continue
        pieces, forced = _line_sentences(text, line_start, line_end, engine, max_run)
        merged: list[tuple[int, int]] = []
        for start, end in pieces:
            if start in forced:
                merged.append((start, end))
                continue
            glued = merged and not (text[start].isspace() or text[start - 1].isspace())
            # A list marker ("1.", "๒.", "(3)") is not a sentence: it belongs to what follows.
            after_marker = merged and not any(c.isalpha() for c in text[merged[-1][0] : merged[-1][1]])
            if glued or after_marker:
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        if len(merged) > 1 and not any(c.isalpha() for c in text[merged[-1][0] : merged[-1][1]]):
            merged[-2:] = [(merged[-2][0], merged[-1][1])]  # a trailing number ends its sentence
        spans.extend(s for s in (_trimmed(text, a, b) for a, b in merged) if s)
    return spans


def _word_spans(text: str, start: int, end: int, engine: str, max_run: int = MAX_RUN) -> list[tuple[int, int]]:
    """Word spans of ``text[start:end]``, segmented at most ``max_run`` characters at a time."""
    spans: list[tuple[int, int]] = []
    while start < end:
        stop = end if end - start <= max_run else _cut(text, start, start + max_run)
        words = word_tokenize(text[start:stop], engine=engine, keep_whitespace=True)
        spans += _pieces_to_spans(text, start, words) or _cluster_spans(text, start, stop)
        start = stop
    return spans


def _cluster_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    clusters = tcc.segment(text[start:end])
    return _pieces_to_spans(text, start, clusters) or [(i, i + 1) for i in range(start, end)]


def _group(text: str, spans: list[tuple[int, int]], count: TokenCounter, budget: int, finer) -> list[_Unit]:
    """Group consecutive small spans into units of at most ``budget`` tokens.

    A single span over budget is handed to ``finer`` (words -> clusters) first.
    """
    counts = count([text[a:b] for a, b in spans])
    units: list[_Unit] = []
    cur: list[tuple[int, int]] = []
    cur_tokens = 0

    def flush() -> None:
        nonlocal cur, cur_tokens
        span = _trimmed(text, cur[0][0], cur[-1][1]) if cur else None
        if span:
            units.append(_Unit(span[0], span[1], cur_tokens))
        cur, cur_tokens = [], 0

    for (a, b), n in zip(spans, counts):
        if n > budget and finer is not None:
            flush()
            units.extend(finer(a, b))
            continue
        if cur and cur_tokens + n > budget:
            flush()
        cur.append((a, b))
        cur_tokens += n
    flush()
    return units


def _split_long_sentence(
    text: str, start: int, end: int, count: TokenCounter, budget: int, word_engine: str, max_run: int = MAX_RUN
) -> list[_Unit]:
    def by_clusters(a: int, b: int) -> list[_Unit]:
        return _group(text, _cluster_spans(text, a, b), count, budget, None)

    return _group(text, _word_spans(text, start, end, word_engine, max_run), count, budget, by_clusters)


def chunk_text(
    text: str, count_tokens: TokenCounter, config: ChunkerConfig, sentences: list[tuple[int, int]] | None = None
) -> list[Span]:
    """Cut ``text`` into overlapping chunks of at most ``config.chunk_tokens`` tokens.

    Sentences are packed greedily; the next chunk starts with the last sentences of the
    previous one, up to ``config.overlap_tokens``, so an answer that straddles a cut is
    still whole in one chunk. ``sentences``: ``split_sentences(text, config.sentence_engine)``
    when the caller has it already (the index stores the same sentences).
    """
    budget = config.chunk_tokens
    if sentences is None:
        sentences = split_sentences(text, config.sentence_engine, config.max_run)
    counts = count_tokens([text[a:b] for a, b in sentences])
    units: list[_Unit] = []
    for (a, b), n in zip(sentences, counts):
        if n <= budget:
            units.append(_Unit(a, b, n))
        else:
            units.extend(_split_long_sentence(text, a, b, count_tokens, budget, config.word_engine, config.max_run))

    chunks: list[Span] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and total + units[j].n_tokens <= budget:
            total += units[j].n_tokens
            j += 1
        if j == i:  # one indivisible cluster over budget: keep it whole rather than cut it
            total, j = units[i].n_tokens, i + 1
        chunks.append(Span(units[i].start, units[j - 1].end, total))
        if j == len(units):
            break
        # Step back over trailing units for the overlap, always moving forward by at least one.
        k, overlap = j, 0
        while k - 1 > i and overlap + units[k - 1].n_tokens <= config.overlap_tokens:
            overlap += units[k - 1].n_tokens
            k -= 1
        # Overlap only if the next chunk still has room for something new after it.
        if overlap + units[j].n_tokens > budget:
            k = j
        i = k
    return chunks
