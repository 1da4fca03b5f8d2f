import hashlib
import os
import socket
import subprocess
import sys

import pytest

from mindcv.utils.download import DownloadError, cached_download, download_file, get_cache_dir, sha256_file
from tests.http_server import FileServer

BODY = os.urandom(300_000)
BODY_SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture
def server():
    srv = FileServer()
    srv.routes["/w.ckpt"] = (BODY, "ok")
    srv.routes["/short.ckpt"] = (BODY, "truncate")
    yield srv
    srv.stop()


def _leftovers(cache):
    return sorted(p.name for p in cache.iterdir() if p.is_file())


def test_cache_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MINDCV_CACHE_DIR", str(tmp_path / "c"))
    assert get_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("MINDCV_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert get_cache_dir() == tmp_path / "mindcv"


def test_good_download_then_cache_used_with_server_stopped(server, tmp_path):
    path = cached_download(server.url("/w.ckpt"), "w.ckpt", file_hash=BODY_SHA, cache_dir=tmp_path, progress=False)
    assert path.read_bytes() == BODY
    assert _leftovers(tmp_path) == ["w.ckpt"]
    url = server.url("/w.ckpt")
    server.stop()
    again = cached_download(url, "w.ckpt", file_hash=BODY_SHA, cache_dir=tmp_path, progress=False)
    assert again == path and server.hits["/w.ckpt"] == 1


def test_wrong_hash_deletes_file_and_names_both_hashes(server, tmp_path):
    wrong = "0" * 64
    with pytest.raises(DownloadError) as err:
        cached_download(server.url("/w.ckpt"), "w.ckpt", file_hash=wrong, cache_dir=tmp_path, progress=False)
    assert f"expected {wrong}, got {BODY_SHA}" in str(err.value)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["md5", "sha256 prefix"])
def test_publishers_hash_forms_are_checked(server, tmp_path, kind):
    """Keras publishes md5 hashes, timm puts a sha256 prefix in its file names; both are verified."""
    good = hashlib.md5(BODY).hexdigest() if kind == "md5" else BODY_SHA[:9]
    path = cached_download(server.url("/w.ckpt"), "w.ckpt", file_hash=good, cache_dir=tmp_path, progress=False)
    assert path.read_bytes() == BODY
    path.write_bytes(BODY[:-1] + b"x")  # a damaged cached copy is caught on its next use
    cached_download(server.url("/w.ckpt"), "w.ckpt", file_hash=good, cache_dir=tmp_path, progress=False)
    assert server.hits["/w.ckpt"] == 2 and path.read_bytes() == BODY
    wrong = "0" * len(good)
    path.unlink()
    with pytest.raises(DownloadError, match=f"expected {wrong}"):
        cached_download(server.url("/w.ckpt"), "w.ckpt", file_hash=wrong, cache_dir=tmp_path, progress=False)
    assert _leftovers(tmp_path) == []


def test_every_published_hash_is_declared():
    from mindcv.models import get_pretrained_cfg

    assert get_pretrained_cfg("xception", "keras_in1k").file_hash == "0a58e3b7378bc2990ea3b43d5981f1f6"
    assert get_pretrained_cfg("xception", "timm_legacy_in1k").file_hash == "43020ad28"


def test_truncated_body_leaves_nothing(server, tmp_path):
    with pytest.raises(DownloadError, match="Download of .*short.ckpt|Failed to download .*short.ckpt") as err:
        cached_download(server.url("/short.ckpt"), "s.ckpt", cache_dir=tmp_path, progress=False)
    assert str(tmp_path / "s.ckpt") in str(err.value)
    assert _leftovers(tmp_path) == []


def test_server_down_names_url_and_where_to_put_file(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x.ckpt"
    with pytest.raises(DownloadError) as err:
        cached_download(url, "x.ckpt", cache_dir=tmp_path, progress=False)
    message = str(err.value)
    assert url in message and str(tmp_path / "x.ckpt") in message and "checkpoint_path" in message
    assert _leftovers(tmp_path) == []


def test_http_error_is_reported(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        download_file(server.url("/missing.ckpt"), tmp_path / "m.ckpt", progress=False)
    assert _leftovers(tmp_path) == []


def test_corrupted_cached_file_is_verified_and_replaced(server, tmp_path):
    (tmp_path / "w.ckpt").write_bytes(b"damaged")
    path = cached_download(server.url("/w.ckpt"), "w.ckpt", file_hash=BODY_SHA, cache_dir=tmp_path, progress=False)
    assert sha256_file(path) == BODY_SHA and server.hits["/w.ckpt"] == 1


def test_non_zero_local_rank_waits_and_never_downloads(server, tmp_path, monkeypatch):
    monkeypatch.setenv("MS_WORKER_NUM", "2")
    monkeypatch.setenv("DEVICE_ID", "1")
    with pytest.raises(DownloadError, match="local rank 0"):
        cached_download(server.url("/w.ckpt"), "w.ckpt", cache_dir=tmp_path, progress=False, wait_timeout=1)
    assert server.hits.get("/w.ckpt", 0) == 0
    (tmp_path / "w.ckpt").write_bytes(BODY)
    assert cached_download(server.url("/w.ckpt"), "w.ckpt", file_hash=BODY_SHA, cache_dir=tmp_path,
                           progress=False, wait_timeout=1).read_bytes() == BODY
    assert server.hits.get("/w.ckpt", 0) == 0


def test_concurrent_processes_download_once(server, tmp_path):
    code = ("import sys; from mindcv.utils.download import cached_download; "
            f"cached_download({server.url('/w.ckpt')!r}, 'w.ckpt', file_hash={BODY_SHA!r}, "
            f"cache_dir={str(tmp_path)!r}, progress=False)")
    env = {k: v for k, v in os.environ.items() if k not in ("MS_WORKER_NUM", "DEVICE_ID", "LOCAL_RANK")}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env) for _ in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    assert server.hits["/w.ckpt"] == 1
    assert _leftovers(tmp_path) == ["w.ckpt"]
