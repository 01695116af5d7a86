"""Metadata checkpoint files: atomic writes, pruning, verification, fallback.

Every test runs on a local directory and on ``memory://``. Corruption is made
by rewriting the real files.
"""
from __future__ import annotations

import hashlib
import logging
import re
import struct
import uuid

import pytest

from fluvial import __version__
from fluvial.core import fsio
from fluvial.streaming.checkpoint import CheckpointError, CheckpointStore
from fluvial.streaming.checkpoint.store import FORMAT, MAGIC

HEADER_LEN = 8 + 2 + 1 + len(__version__.encode()) + 2 + 8


@pytest.fixture(params=["local", "memory"])
def url(request, tmp_path):
    if request.param == "local":
        yield str(tmp_path / "ckpt")
        return
    u = f"memory://fluvial-store-test-{uuid.uuid4().hex}"
    yield u
    fsio.remove(u, recursive=True)


def _file(store: CheckpointStore, t: int) -> str:
    return fsio.join(store.url, f"checkpoint-{t}")


def _rewrite(store: CheckpointStore, t: int, change) -> None:
    path = _file(store, t)
    fsio.atomic_write(path, change(fsio.read_bytes(path)))


def _flip(at: int):
    def change(data: bytes) -> bytes:
        return data[:at] + bytes([data[at] ^ 0x20]) + data[at + 1:]
    return change


def _foreign(payload: bytes, fmt: int, writer: str) -> bytes:
    """A file of another checkpoint format: only the stable prefix is ours."""
    v = writer.encode()
    return MAGIC + struct.pack(">HB", fmt, len(v)) + v + b"\x00future layout\x00" + payload


# ---------------------------------------------------------------- writing
def test_write_then_read_latest_returns_the_payload(url):
    store = CheckpointStore(url)
    assert store.write(1000, b"payload") == _file(store, 1000)
    assert store.read_latest() == (1000, b"payload")
    data = fsio.read_bytes(_file(store, 1000))
    assert data.startswith(MAGIC + struct.pack(">H", FORMAT)) and __version__.encode() in data[:HEADER_LEN]
    assert len(data) == HEADER_LEN + len(b"payload") + 32


def test_writing_the_same_time_again_replaces_the_file_atomically(url):
    store = CheckpointStore(url)
    store.write(1000, b"after generation")
    store.write(1000, b"after completion")
    assert store.generations() == [1000]
    assert store.read_latest() == (1000, b"after completion")
    assert fsio.list_names(url) == ["checkpoint-1000"]      # no temp file left


def test_keeps_only_the_newest_n_checkpoints(url):
    store = CheckpointStore(url, keep=2)
    for t in (1000, 3000, 2000, 4000):
        store.write(t, str(t).encode())
    assert store.generations() == [4000, 3000]
    assert list(store.valid()) == [(4000, b"4000"), (3000, b"3000")]


def test_keep_must_be_at_least_one(url):
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="keep must be an integer >= 1"):
            CheckpointStore(url, keep=bad)


def test_bad_write_arguments_are_refused(url):
    store = CheckpointStore(url)
    with pytest.raises(ValueError, match="time_ms must be a non-negative integer"):
        store.write(-5, b"x")
    with pytest.raises(TypeError, match="payload must be bytes"):
        store.write(5, "text")                          # type: ignore[arg-type]


def test_names_that_do_not_parse_and_temp_files_are_ignored(url):
    store = CheckpointStore(url)
    store.write(2000, b"real")
    for name in ("checkpoint-abc", "checkpoint-12.bak", ".checkpoint-5000.tmp-0123", "notes"):
        fsio.atomic_write(fsio.join(url, name), b"junk")
    assert store.generations() == [2000]
    assert store.read_latest() == (2000, b"real")


def test_temp_files_older_than_every_kept_checkpoint_are_pruned(url):
    store = CheckpointStore(url, keep=1)
    fsio.atomic_write(fsio.join(url, ".checkpoint-1000.tmp-dead"), b"left by a crash")
    fsio.atomic_write(fsio.join(url, ".checkpoint-9000.tmp-live"), b"a newer write")
    store.write(5000, b"x")
    assert fsio.list_names(url) == [".checkpoint-9000.tmp-live", "checkpoint-5000"]


def test_delete_all_leaves_other_contents_alone(url):
    store = CheckpointStore(url)
    store.write(1000, b"a")
    store.write(2000, b"b")
    fsio.atomic_write(fsio.join(url, "rdds", "rdd-1", "_meta"), b"m")
    store.delete_all()
    assert store.generations() == [] and store.read_latest() is None
    assert fsio.list_names(url) == ["rdds"]


def test_no_checkpoint_files_read_as_none(url):
    store = CheckpointStore(url)
    assert store.generations() == [] and store.read_latest() is None and list(store.valid()) == []


# ---------------------------------------------------------------- reading
@pytest.mark.parametrize("cut", [0, 5, 11, HEADER_LEN - 1, HEADER_LEN + 3, -1])
def test_torn_newest_checkpoint_falls_back_to_previous(url, cut, caplog):
    store = CheckpointStore(url)
    store.write(1000, b"older")
    store.write(2000, b"newer payload")
    _rewrite(store, 2000, lambda d: d[:cut] if cut >= 0 else d[:len(d) + cut])
    with caplog.at_level(logging.WARNING, logger="fluvial"):
        assert store.read_latest() == (1000, b"older")
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "checkpoint-2000" in warned[0] and "truncated" in warned[0]


@pytest.mark.parametrize("where", ["payload", "writer version", "digest", "length"])
def test_flipped_byte_falls_back_to_previous(url, where, caplog):
    store = CheckpointStore(url)
    store.write(1000, b"older")
    store.write(2000, b"newer payload")
    at = {"payload": HEADER_LEN + 2, "writer version": 11, "digest": -3, "length": HEADER_LEN - 1}[where]
    size = fsio.size(_file(store, 2000))
    _rewrite(store, 2000, _flip(at % size))
    with caplog.at_level(logging.WARNING, logger="fluvial"):
        assert store.read_latest() == (1000, b"older")
    assert any("checkpoint-2000" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_flipped_format_field_of_an_intact_file_falls_back_instead_of_refusing(url, caplog):
    store = CheckpointStore(url)
    store.write(1000, b"older")
    store.write(2000, b"newer")
    _rewrite(store, 2000, _flip(9))
    with caplog.at_level(logging.WARNING, logger="fluvial"):
        assert store.read_latest() == (1000, b"older")
    assert "verifies as format" in caplog.text


def test_valid_yields_every_verified_checkpoint_newest_first(url, caplog):
    store = CheckpointStore(url, keep=5)
    for t in (1000, 2000, 3000):
        store.write(t, str(t).encode())
    _rewrite(store, 2000, _flip(HEADER_LEN))
    with caplog.at_level(logging.WARNING, logger="fluvial"):
        assert list(store.valid()) == [(3000, b"3000"), (1000, b"1000")]
    assert "checkpoint-2000" in caplog.text and "bad digest" in caplog.text


def test_all_corrupt_raises_listing_every_file_and_reason(url):
    store = CheckpointStore(url)
    store.write(1000, b"a")
    store.write(2000, b"b")
    store.write(3000, b"c")
    _rewrite(store, 3000, lambda d: d[:7])
    _rewrite(store, 2000, _flip(HEADER_LEN))
    _rewrite(store, 1000, lambda d: b"garbage!" + d[8:])
    with pytest.raises(CheckpointError) as err:
        store.read_latest()
    msg = str(err.value)
    assert f"no usable checkpoint in {store.url}" in msg
    assert re.search(r"checkpoint-3000: truncated", msg)
    assert re.search(r"checkpoint-2000: bad digest", msg)
    assert re.search(r"checkpoint-1000: not a fluvial checkpoint", msg)


# ---------------------------------------------------------------- signing
def test_signed_checkpoint_reads_back_with_the_same_key(url):
    CheckpointStore(url, signing_key="s3cret").write(1000, b"signed")
    assert CheckpointStore(url, signing_key=b"s3cret").read_latest() == (1000, b"signed")


def test_signed_checkpoint_without_a_key_is_refused(url):
    CheckpointStore(url, signing_key="s3cret").write(1000, b"signed")
    with pytest.raises(CheckpointError, match=r"checkpoint-1000: signed with a key .*no signing key is set"):
        CheckpointStore(url).read_latest()


def test_unsigned_checkpoint_with_a_key_is_refused(url):
    CheckpointStore(url).write(1000, b"plain")
    with pytest.raises(CheckpointError, match=r"checkpoint-1000: not signed, but a signing key is set"):
        CheckpointStore(url, signing_key="s3cret").read_latest()


def test_wrong_key_is_refused(url):
    CheckpointStore(url, signing_key="s3cret").write(1000, b"signed")
    with pytest.raises(CheckpointError, match=r"checkpoint-1000: signature does not match the signing key"):
        CheckpointStore(url, signing_key="other").read_latest()


def test_tampered_signed_newest_falls_back_to_intact_older(url, caplog):
    store = CheckpointStore(url, signing_key="s3cret")
    store.write(1000, b"older")
    store.write(2000, b"newer")
    # a forger who rewrites the payload and recomputes a plain SHA-256 still fails the HMAC
    data = fsio.read_bytes(_file(store, 2000))
    body = data[:-32].replace(b"newer", b"evil!")
    fsio.atomic_write(_file(store, 2000), body + hashlib.sha256(body).digest())
    with caplog.at_level(logging.WARNING, logger="fluvial"):
        assert store.read_latest() == (1000, b"older")
    assert "checkpoint-2000" in caplog.text and "signature does not match" in caplog.text


def test_empty_signing_key_is_refused(url):
    with pytest.raises(ValueError, match="signing_key must be a non-empty"):
        CheckpointStore(url, signing_key="")


# ---------------------------------------------------------------- formats
def test_incompatible_format_version_is_refused_not_skipped(url):
    store = CheckpointStore(url)
    store.write(1000, b"usable older")
    fsio.atomic_write(_file(store, 2000), _foreign(b"x" * 40, FORMAT + 1, "9.9.9"))
    with pytest.raises(CheckpointError) as err:
        store.read_latest()
    assert str(err.value) == (
        f"{_file(store, 2000)} was written by fluvial 9.9.9 with checkpoint format {FORMAT + 1}; this "
        f"fluvial {__version__} reads format {FORMAT}; delete {store.url} or run the matching fluvial")


def test_incompatible_format_met_after_a_valid_one_is_raised_when_reached(url):
    store = CheckpointStore(url)
    store.write(2000, b"newest")
    fsio.atomic_write(_file(store, 1000), _foreign(b"y", FORMAT + 7, "0.0.1"))
    it = store.valid()
    assert next(it) == (2000, b"newest")
    with pytest.raises(CheckpointError, match=r"written by fluvial 0.0.1 with checkpoint format 8"):
        next(it)
