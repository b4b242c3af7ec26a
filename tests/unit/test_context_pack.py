"""The context endpoint's pure parts: merging ranges, packing under a budget with either
counter (the shipped tokenizer, and the approximation used when none is found)."""

from __future__ import annotations

import uuid

import pytest

from mimir.context.service import MIN_CUT_TOKENS, merge_ranges, pack
from mimir.context.tokens import APPROXIMATION_NAME, TokenCounter, token_counter

APPROX = TokenCounter(name=APPROXIMATION_NAME, exact=False, note="test")
V1, V2 = uuid.uuid4(), uuid.uuid4()


def rng(version, start, end, span=None, rank=1):
    return {"version_id": version, "start_offset": start, "end_offset": end,
            "span_id": span, "rank": rank}


def passage(text: str, start: int = 0, rank: int = 1) -> dict:
    return {"entity_type": "artifact_version", "entity_id": V1, "artifact_id": V2,
            "version_id": V1, "version_number": 1, "title": "t", "span_id": None,
            "span_ids": [], "merged": False, "start_offset": start,
            "end_offset": start + len(text), "text": text, "status": None, "replaces": [],
            "rank": rank, "tier": 2}


class TestMerge:
    def test_overlapping_and_touching_ranges_of_one_version_merge(self):
        merged = merge_ranges([rng(V1, 10, 20, "a", 3), rng(V1, 15, 30, "b", 1),
                               rng(V1, 30, 40, "c", 2), rng(V1, 50, 60, "d", 4),
                               rng(V2, 12, 18, "e", 5)])
        got = sorted((m["version_id"] == V1, m["start_offset"], m["end_offset"],
                       tuple(m["span_ids"]), m["rank"], m["parts"]) for m in merged)
        assert got == [(False, 12, 18, ("e",), 5, 1), (True, 10, 40, ("a", "b", "c"), 1, 3),
                       (True, 50, 60, ("d",), 4, 1)]

    def test_a_range_inside_another_adds_its_span_only(self):
        [merged] = merge_ranges([rng(V1, 0, 100, "a"), rng(V1, 20, 30, "b")])
        assert (merged["start_offset"], merged["end_offset"]) == (0, 100)
        assert merged["span_ids"] == ["a", "b"]


class TestPack:
    @pytest.mark.parametrize("counter", [APPROX, token_counter()], ids=["approx", "tokenizer"])
    @pytest.mark.parametrize("budget", [16, 40, 100, 333])
    def test_never_over_budget_and_slices_stay_exact(self, counter, budget):
        source = ("The harvest starts in May; prices fall in June. " * 40)
        pieces = [passage(source[i:i + 400], start=i, rank=n)
                  for n, i in enumerate(range(0, 1600, 400), start=1)]
        packed, text, used, skipped = pack(pieces, budget, counter)
        assert used == counter.count(text) <= budget
        for piece in packed:
            assert source[piece["start_offset"]:piece["end_offset"]] == piece["text"]
        assert len(packed) + skipped == len(pieces)

    def test_a_statement_that_does_not_fit_is_skipped_not_cut(self):
        statement = {**passage("x" * 400), "entity_type": "decision", "status": "active",
                     "start_offset": None, "end_offset": None}
        packed, _, _, skipped = pack([statement, passage("short words")], 40, APPROX)
        assert [p["entity_type"] for p in packed] == ["artifact_version"]
        assert skipped == 1

    def test_a_passage_is_cut_only_when_enough_room_remains(self):
        long = passage("word " * 400)
        packed, _, _, _ = pack([long], MIN_CUT_TOKENS + 12, APPROX)
        assert packed and packed[0]["truncated"]
        packed, _, _, skipped = pack([passage("tiny"), long], 10, APPROX)
        assert [p["text"] for p in packed] == ["tiny"] and skipped == 1

    def test_the_approximation_counts_four_characters_a_token(self):
        assert APPROX.count("abcdefgh") == 2 and APPROX.count("abcdefghi") == 3
        assert APPROX.prefix_within("abcdefghij", 2) == 8
        assert token_counter().exact is True
