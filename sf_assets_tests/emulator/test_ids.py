"""Salesforce ID checksums and minting."""

from __future__ import annotations

import itertools

from sf_assets.emulator import ids


def test_checksum_matches_ids_recorded_from_a_real_org() -> None:
    for real in ("0018c00002FInboAAD", "7500Y00000BSfbrQAD", "0011v00001rlVALAA2", "0050Y000000pyREQAY"):
        assert ids.checksum(real[:15]) == real[15:]


def test_normalize_extends_a_15_character_id() -> None:
    assert ids.normalize("0018c00002FInbo") == "0018c00002FInboAAD"


def test_normalize_accepts_a_suffix_in_any_case() -> None:
    assert ids.normalize("0018c00002FInboaad") == "0018c00002FInboAAD"


def test_normalize_rejects_a_wrong_suffix_and_bad_shapes() -> None:
    assert [ids.normalize(v) for v in ("0018c00002FInboAAA", "001", "0018c00002FInb!", "")] == [None] * 4


def test_minted_ids_are_unique_valid_and_prefixed() -> None:
    blocks = itertools.count(1, 10)
    generator = ids.IdGenerator(lambda size: next(blocks), block=10)
    minted = generator.many("003", 10) + generator.many("003", 10)
    assert len(set(minted)) == 20
    assert all(ids.normalize(i) == i and i.startswith("003") for i in minted)


def test_a_request_larger_than_a_block_reserves_enough() -> None:
    reserved: list[int] = []
    generator = ids.IdGenerator(lambda size: reserved.append(size) or 1, block=10)
    assert len(set(generator.many("001", 25))) == 25
    assert reserved == [25]


def test_minting_a_reserved_block_gives_the_ids_many_gives() -> None:
    # The block crosses a change of the digits before the last two (every 3,844 numbers).
    reserving, taking = (ids.IdGenerator(lambda size: 3_840, block=10) for _ in range(2))
    first = reserving.reserve(8)
    assert ids.mint("003", first, 8) == taking.many("003", 8)
