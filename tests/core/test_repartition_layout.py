"""repartition / coalesce(shuffle=True) put every record where PySpark 4.3 does.

The generator values below were worked out from the Scala and Java sources
(``XORShiftRandom.hashSeed``/``next`` and ``java.util.Random.nextInt``); the
layouts follow from them by hand: input partition ``i`` is cut into batches of
``min(10, batchSize or 1024)`` records (-1: one batch) and its k-th batch goes
to output partition ``(start_position(i, n) + 1 + k) % n``, map outputs read
in input-partition order. The 25-record layout with the default batch size is
the one the parity golden ``repartition.json`` recorded from PySpark.
"""
from __future__ import annotations

import pytest
from core_helpers import HYPO
from hypothesis import given
from hypothesis import strategies as st

from fluvial import SparkConf, SparkContext
from fluvial.core.transforms import _shuffle_batch_size
from fluvial.core.xorshift import XORShiftRandom, hash_seed, murmur3_bytes_hash, start_position

# ---------------------------------------------------------------- generator


@pytest.mark.parametrize("data, seed, expected", [
    # Published MurmurHash3_x86_32 test vectors (as unsigned 32-bit values).
    (b"", 0, 0),
    (b"", 1, 0x514E28B7),
    (b"\x00\x00\x00\x00", 0, 0x2362F9DE),
    (b"Hello, world!", 1234, 0xFAF6CDB3),
    (b"The quick brown fox jumps over the lazy dog", 0x9747B28C, 0x2FA826CD),
])
def test_murmur3_bytes_hash_matches_reference_vectors(data, seed, expected):
    assert murmur3_bytes_hash(data, seed) & 0xFFFFFFFF == expected


def test_murmur3_bytes_hash_is_a_signed_int():
    assert murmur3_bytes_hash(b"\x00\x00\x00\x00", 0) == 0x2362F9DE
    assert murmur3_bytes_hash(b"", 1) == 0x514E28B7
    assert murmur3_bytes_hash(b"Hello, world!", 1234) == 0xFAF6CDB3 - (1 << 32)


def test_hash_seed_combines_two_murmur_hashes_of_the_big_endian_long():
    data = (1).to_bytes(8, "big")
    low = murmur3_bytes_hash(data)
    high = murmur3_bytes_hash(data, low)
    assert hash_seed(1) == (((high & 0xFFFFFFFF) << 32) | (low & 0xFFFFFFFF)) - (1 << 64)
    assert hash_seed(0) == -9171266021732529057      # 0x80b91e250a05cc5f
    assert hash_seed(1) == -202554933444998644       # 0xfd30615c78820a0c
    assert hash_seed(2) == 2422337058538498501       # 0x219ddeb87c73a9c5
    assert hash_seed(-1) == -4346519531656778685     # 0xc3ae0f83ca4cec43


def test_next_bits_is_the_xorshift_of_the_hashed_seed():
    x = XORShiftRandom(0)
    assert [x.next_bits(31) for _ in range(3)] == [520798028, 1576938828, 437779267]
    assert XORShiftRandom(2).next_bits(32) == -98574820      # Int: bit 31 set is negative
    with pytest.raises(ValueError, match="bits"):
        x.next_bits(33)


def test_next_int_follows_java_util_random():
    # Not a power of two: next(31) % bound, e.g. 520798028 % 10 == 8.
    x = XORShiftRandom(0)
    assert [x.next_int(10) for _ in range(5)] == [8, 8, 7, 0, 1]
    # A power of two: (bound * next(31)) >> 31, e.g. (8 * 520798028) >> 31 == 1.
    assert XORShiftRandom(0).next_int(8) == 1
    assert XORShiftRandom(0).next_int(16) == 3
    assert XORShiftRandom(1).next_int(1000) == 703
    assert XORShiftRandom(2).next_int(2 ** 31 - 1) == 2048908828


def test_next_int_rejects_a_draw_from_the_last_partial_range():
    # Seed 2 draws 2048908828 first: for bound 2**30 + 1 that lies in the partial
    # range java.util.Random rejects, so the answer is the second draw, 447153120.
    bound = 2 ** 30 + 1
    x = XORShiftRandom(2)
    assert x.next_bits(31) == 2048908828 and x.next_bits(31) == 447153120
    assert XORShiftRandom(2).next_int(bound) == 447153120


@pytest.mark.parametrize("bound", [0, -3, 2 ** 31, 2.5])
def test_next_int_refuses_a_bound_outside_java_int_range(bound):
    with pytest.raises(ValueError, match="bound"):
        XORShiftRandom(0).next_int(bound)


def test_start_positions_of_the_first_input_partitions():
    assert [start_position(i, 2) for i in range(4)] == [0, 0, 1, 1]
    assert [start_position(i, 3) for i in range(4)] == [2, 0, 1, 2]
    assert [start_position(i, 4) for i in range(4)] == [0, 0, 3, 2]
    assert [start_position(i, 5) for i in range(4)] == [3, 3, 3, 2]
    assert [start_position(i, 1) for i in range(4)] == [0, 0, 0, 0]


@pytest.mark.parametrize("batch_size, expected", [(0, 10), (1, 1), (3, 3), (10, 10), (5000, 10), (-1, -1)])
def test_batch_size_follows_the_context_batch_size(batch_size, expected):
    assert _shuffle_batch_size(batch_size) == expected


def test_a_context_batch_size_below_minus_one_is_refused():
    with pytest.raises(ValueError, match="batchSize must be -1 .* got -2"):
        _shuffle_batch_size(-2)


# ------------------------------------------------------------------ layouts

DEFAULT, SINGLE, UNLIMITED = 0, 1, -1
CONTEXTS = [("inprocess", DEFAULT), ("processes", DEFAULT), ("inprocess", SINGLE), ("inprocess", UNLIMITED)]


@pytest.fixture(scope="module", params=CONTEXTS, ids=[f"{e}-batchSize{b}" for e, b in CONTEXTS])
def ctx(request: pytest.FixtureRequest):
    executor, batch_size = request.param
    conf = SparkConf().setMaster("local[2]").setAppName("fluvial-repartition-layout")
    conf.set("spark.fluvial.executor", executor)
    context = SparkContext(conf=conf, batchSize=batch_size)
    yield context
    context.stop()


def cut(partitions: list[list], size: int) -> list[list[list]]:
    """Each partition as PySpark's BatchedSerializer batches it."""
    if size < 0:
        return [[list(p)] for p in partitions]
    return [[p[i:i + size] for i in range(0, len(p), size)] for p in partitions]


def deal(batched: list[list[list]], n: int) -> list[list[list]]:
    """Spark's distributePartition + HashPartitioner + in-order reduce, on batches."""
    out: list[list[list]] = [[] for _ in range(n)]
    for i, batches in enumerate(batched):
        for k, batch in enumerate(batches):
            out[(start_position(i, n) + 1 + k) % n].append(batch)
    return out


def flat(batched: list[list[list]]) -> list[list]:
    return [[x for b in bs for x in b] for bs in batched]


def size_of(ctx: SparkContext) -> int:
    return _shuffle_batch_size(ctx._batchSize)


def test_batches_are_dealt_from_a_seeded_start(ctx):
    rdd = ctx.parallelize(list(range(25)), 2)          # [0..11], [12..24]
    expected = {
        DEFAULT: [list(range(10)), list(range(10, 22)), [22, 23, 24]],
        SINGLE: [[0, 3, 6, 9, 14, 17, 20, 23], [1, 4, 7, 10, 12, 15, 18, 21, 24], [2, 5, 8, 11, 13, 16, 19, 22]],
        UNLIMITED: [list(range(12)), list(range(12, 25)), []],
    }[ctx._batchSize]
    assert rdd.repartition(3).glom().collect() == expected
    assert rdd.coalesce(3, shuffle=True).glom().collect() == expected


def test_one_partition_spreads_whole_batches(ctx):
    parts = ctx.parallelize(range(100), 1).repartition(4).glom().collect()
    r = range(100)
    expected = {
        DEFAULT: [[*r[30:40], *r[70:80]], [*r[0:10], *r[40:50], *r[80:90]],
                  [*r[10:20], *r[50:60], *r[90:100]], [*r[20:30], *r[60:70]]],
        SINGLE: [list(r[3::4]), list(r[0::4]), list(r[1::4]), list(r[2::4])],
        UNLIMITED: [[], list(r), [], []],
    }[ctx._batchSize]
    assert parts == expected


def test_repartitioning_again_deals_the_same_batches(ctx):
    first = ctx.parallelize(list(range(25)), 2).repartition(3)
    expected = {
        DEFAULT: [list(range(12, 25)), list(range(12))],
        SINGLE: [[3, 9, 17, 23, 4, 10, 15, 21, 2, 8, 13, 19], [0, 6, 14, 20, 1, 7, 12, 18, 24, 5, 11, 16, 22]],
        UNLIMITED: [[], list(range(25))],
    }[ctx._batchSize]
    assert first.repartition(2).glom().collect() == expected
    cached = ctx.parallelize(list(range(25)), 2).repartition(3).cache()
    assert cached.count() == 25
    assert cached.repartition(2).glom().collect() == expected
    assert cached.coalesce(2, shuffle=True).glom().collect() == expected


def test_any_other_transformation_cuts_new_batches(ctx):
    first = ctx.parallelize(list(range(25)), 2).repartition(3)
    parts = first.map(lambda x: x).repartition(2).glom().collect()
    assert parts == flat(deal(cut(first.glom().collect(), size_of(ctx)), 2))
    if ctx._batchSize == DEFAULT:  # [10..21] is now cut as [10..19], [20, 21]
        assert parts == [[20, 21, 22, 23, 24], list(range(20))]


def test_coalesce_without_shuffle_keeps_the_batches(ctx):
    first = ctx.parallelize(list(range(25)), 2).repartition(3)
    parts = first.coalesce(2).repartition(2).glom().collect()
    batches = deal(cut([list(range(12)), list(range(12, 25))], size_of(ctx)), 3)
    assert parts == flat(deal([batches[0], batches[1] + batches[2]], 2))
    if ctx._batchSize == DEFAULT:  # batches [10, 11], [12..21], [22, 23, 24] stay whole
        assert parts == [list(range(12, 22)), [*range(12), 22, 23, 24]]


@HYPO
@given(sizes=st.lists(st.integers(0, 35), min_size=1, max_size=6), n=st.integers(1, 7))
def test_layout_matches_the_batch_dealing_model(ctx, sizes, n):
    data, start = [], 0
    for s in sizes:
        data.append(list(range(start, start + s)))
        start += s
    rdd = ctx.union([ctx.parallelize(p, 1) for p in data])
    got = rdd.repartition(n).glom().collect()
    assert got == flat(deal(cut(data, size_of(ctx)), n))
    assert sorted(x for p in got for x in p) == list(range(start))
