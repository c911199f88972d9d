"""BM25 weights computed from the corpus's counts (index.backends.qdrant.sparse.counted_vectors) are bm25s's
own: what lets an admin update weigh its new passages without the keyword index of the whole
corpus (index.backends.qdrant.updates)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from index.build.embed import indexed_text
from index.folder.keyword import KeywordIndex, Tokenizer
from index.backends.qdrant.sparse import Corpus, WordIds, corpus_of, counted_vectors, passage_vectors, passage_words
from tests.conftest import SHARED

IAPP = SHARED / "datasets" / "iapp-wiki-qa-dev" / "contexts.jsonl"


@pytest.fixture(scope="module")
def thai_passages() -> list[str]:
    rows = [json.loads(line) for line in IAPP.read_text("utf-8").splitlines()[:300]]
    texts = [indexed_text(r["title"], r["text"][:600]) for r in rows]
    # A passage of stopwords and punctuation only (no BM25 word at all) and a repeated passage.
    return [*texts, "และ ที่ ของ !!!", texts[0]]


def assert_same_rows(got, want) -> None:
    assert len(got.indices) == len(want.indices)
    for gi, gv, wi, wv in zip(got.indices, got.values, want.indices, want.values):
        assert gi.tolist() == wi.tolist()
        np.testing.assert_allclose(gv, wv, rtol=1e-6, atol=0)


@pytest.mark.parametrize("idf", ["full", "engine"])
def test_weights_from_the_counts_are_bm25s_weights_for_thai_passages(thai_passages, idf):
    keyword = KeywordIndex.build(thai_passages)
    words = WordIds.empty().assign(keyword.bm25.vocab_dict)
    tokens = passage_words(Tokenizer(), thai_passages)
    assert_same_rows(counted_vectors(tokens, words, corpus_of(tokens), idf), passage_vectors(keyword, words, idf))


def test_a_new_passage_weighed_from_updated_counts_is_weighed_as_a_rebuild_would(thai_passages):
    tokenize = Tokenizer()
    old, new = thai_passages[:200], thai_passages[200:210]
    counts = corpus_of(passage_words(tokenize, old))
    fresh = passage_words(tokenize, new)
    # The counts an update keeps: the old corpus's, plus what the new passages bring.
    df = dict(counts.df)
    for tokens in fresh:
        for w in set(tokens):
            df[w] = df.get(w, 0) + 1
    after = Corpus(df, counts.passages + len(fresh), counts.length + sum(map(len, fresh)))
    rebuilt = KeywordIndex.build(old + new)
    words = WordIds.empty().assign(rebuilt.bm25.vocab_dict)
    want = passage_vectors(rebuilt, words, "full")
    got = counted_vectors(fresh, words, after, "full")
    assert_same_rows(got, type(want)(want.indices[200:], want.values[200:]))


def test_an_unknown_idf_mode_is_refused():
    with pytest.raises(ValueError, match="unknown idf mode"):
        counted_vectors([["คำ"]], WordIds.empty().assign(["คำ"]), Corpus({"คำ": 1}, 1, 1), "bm25")
