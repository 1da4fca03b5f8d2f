import gzip
import hashlib
import io
import os
import socket
import subprocess
import sys
import tarfile

import pytest

from mindcv.utils.download import (DownLoad, DownloadError, cached_download, detect_file_type, download_file,
                                   get_cache_dir, get_default_download_root, set_default_download_root, sha256_file)
from tests.http_server import FileServer, serving

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


@pytest.mark.slow
def test_concurrent_processes_download_once(server, tmp_path):
    code = ("import sys; from mindcv.utils.download import cached_download; "
            f"cached_download({server.url('/w.ckpt')!r}, 'w.ckpt', file_hash={BODY_SHA!r}, "
            f"cache_dir={str(tmp_path)!r}, progress=False)")
    env = {k: v for k, v in os.environ.items() if k not in ("MS_WORKER_NUM", "DEVICE_ID", "LOCAL_RANK")}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env) for _ in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    assert server.hits["/w.ckpt"] == 1
    assert _leftovers(tmp_path) == ["w.ckpt"]


def test_mindcv_download_root_can_be_set_and_reset(tmp_path, monkeypatch):
    monkeypatch.setenv("MINDCV_CACHE_DIR", str(tmp_path / "env"))
    try:
        set_default_download_root(str(tmp_path / "chosen"))
        assert get_default_download_root() == str(tmp_path / "chosen") and get_cache_dir() == tmp_path / "chosen"
    finally:
        set_default_download_root(None)
    assert get_default_download_root() == str(tmp_path / "env")


@pytest.mark.parametrize("name, expected", [("a.tar.gz", (".tar.gz", ".tar", ".gz")),
                                            ("a.tgz", (".tgz", ".tar", ".gz")), ("a.zip", (".zip", ".zip", None)),
                                            ("a.bin.gz", (".gz", None, ".gz"))])
def test_file_types(name, expected):
    assert detect_file_type(name) == expected


def test_file_types_without_a_known_suffix_are_errors():
    for name in ("archive", "a.rar"):
        with pytest.raises(DownloadError, match="archive or compression type"):
            detect_file_type(name)


def _tar_gz(members: dict) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def test_mindcv_downloader_fetches_checks_and_unpacks(tmp_path):
    archive = _tar_gz({"data/a.txt": b"alpha", "data/b.txt": b"beta"})
    md5, single = hashlib.md5(archive).hexdigest(), gzip.compress(b"single")
    with serving({"/d.tar.gz": archive, "/one.gz": single}) as srv:
        loader = DownLoad()
        loader.download_and_extract_archive(srv.url("/d.tar.gz"), str(tmp_path), md5=md5, remove_finished=True)
        loader.download_and_extract_archive(srv.url("/one.gz"), str(tmp_path))
        loader.download_url(srv.url("/one.gz"), str(tmp_path))  # there already: not fetched again
        assert srv.hits == {"/d.tar.gz": 1, "/one.gz": 1}
        with pytest.raises(DownloadError, match="Hash mismatch"):
            loader.download_url(srv.url("/d.tar.gz"), str(tmp_path / "x"), md5="0" * 32)
    assert (tmp_path / "data" / "b.txt").read_bytes() == b"beta" and (tmp_path / "one").read_bytes() == b"single"
    assert not (tmp_path / "d.tar.gz").exists()
    assert loader.check_md5(str(tmp_path / "one.gz"), hashlib.md5(single).hexdigest())
    assert list((tmp_path / "x").iterdir()) == []


def test_archives_cannot_write_outside_their_folder(tmp_path):
    (tmp_path / "evil.tar").write_bytes(_tar_gz({"../escaped.txt": b"x"}))
    (tmp_path / "evil.tar").rename(tmp_path / "evil.tar.gz")
    with pytest.raises(tarfile.TarError):
        DownLoad().extract_archive(str(tmp_path / "evil.tar.gz"), str(tmp_path / "out"))
    assert not (tmp_path / "escaped.txt").exists()
