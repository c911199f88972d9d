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


def split_sentences(text: str, engine: str = "crfcut") -> list[tuple[int, int]]:
    """Sentence spans of ``text``: a line break always ends a sentence; within a line, PyThaiNLP.

    A cut the sentence model proposes where there is no whitespace is undone: Thai separates
    sentences with a space, and a cut right after an abbreviation's dot ("ดศ.", "ครม.") or inside
    "(ดศ.)" would otherwise split a clause in two.
    """
    spans: list[tuple[int, int]] = []
    for line_start, line_end in _lines(text):
        line = text[line_start:line_end]
        if not line.strip():
            continue
        # PyThaiNLP needs a string (it ignores crfcut when given a list of words).
        pieces = _pieces_to_spans(text, line_start, sent_tokenize(line, engine=engine)) or [(line_start, line_end)]
        merged: list[tuple[int, int]] = []
        for start, end in pieces:
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


def _word_spans(text: str, start: int, end: int, engine: str) -> list[tuple[int, int]]:
    words = word_tokenize(text[start:end], engine=engine, keep_whitespace=True)
    return _pieces_to_spans(text, start, words) or _cluster_spans(text, start, end)


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
    text: str, start: int, end: int, count: TokenCounter, budget: int, word_engine: str
) -> list[_Unit]:
    def by_clusters(a: int, b: int) -> list[_Unit]:
        return _group(text, _cluster_spans(text, a, b), count, budget, None)

    return _group(text, _word_spans(text, start, end, word_engine), count, budget, by_clusters)


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
        sentences = split_sentences(text, config.sentence_engine)
    counts = count_tokens([text[a:b] for a, b in sentences])
    units: list[_Unit] = []
    for (a, b), n in zip(sentences, counts):
        if n <= budget:
            units.append(_Unit(a, b, n))
        else:
            units.extend(_split_long_sentence(text, a, b, count_tokens, budget, config.word_engine))

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
