"""MNIST/CIFAR downloads: fetched from a server on 127.0.0.1, md5-checked, unpacked; offline errors name the files."""
import gzip
import hashlib
import io
import struct
import tarfile

import numpy as np
import pytest

from mindcv.data import Cifar10Download, MnistDownload, get_dataset_download_root
from mindcv.utils.errors import DataError
from tests.http_server import serving

RECORDS = 10000  # per file: MindSpore's reader accepts nothing else


def cifar10_files(seed: int = 0) -> dict:
    """CIFAR-10's binary files: per record a label byte and 3x32x32 pixel planes (random labels and first rows,
    the rest a constant per record, so the archive stays small)."""
    rng = np.random.default_rng(seed)
    files = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = np.repeat(np.arange(RECORDS, dtype=np.uint8)[:, None], 3073, axis=1)
        records[:, 0] = rng.integers(0, 10, RECORDS)
        records[:4, 1:] = rng.integers(0, 256, (4, 3072))
        files[name] = records.tobytes()
    files["batches.meta.txt"] = "\n".join(f"class{i}" for i in range(10)).encode()
    return files


def cifar10_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        for name, body in cifar10_files().items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def mnist_files(count: int = 7) -> dict:
    """MNIST's idx files, gzipped as published."""
    rng = np.random.default_rng(1)
    images = struct.pack(">IIII", 2051, count, 28, 28) + rng.integers(0, 256, count * 784, dtype=np.uint8).tobytes()
    labels = struct.pack(">II", 2049, count) + rng.integers(0, 10, count, dtype=np.uint8).tobytes()
    return {f"{split}-{kind}": gzip.compress(body) for split in ("train", "t10k")
            for kind, body in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels))}


def test_cifar10_is_fetched_checked_and_unpacked(tmp_path):
    body = cifar10_archive()
    with serving({"/cifar-10-binary.tar.gz": body}) as server:
        downloader = Cifar10Download(str(tmp_path))
        downloader.url = (server.url("/cifar-10-binary.tar.gz"), hashlib.md5(body).hexdigest())
        downloader.download()
        downloader.download()  # in place: nothing fetched again
        assert server.hits == {"/cifar-10-binary.tar.gz": 1}
    assert downloader.path == str(tmp_path / "cifar-10-batches-bin") and not downloader.missing()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-batches-bin"]  # the archive is removed
    assert (tmp_path / "cifar-10-batches-bin" / "data_batch_3.bin").read_bytes() == cifar10_files()["data_batch_3.bin"]


def test_a_damaged_download_is_refused_and_leaves_nothing(tmp_path):
    body = cifar10_archive()
    with serving({"/cifar-10-binary.tar.gz": body[:-10] + b"0123456789"}) as server:
        downloader = Cifar10Download(str(tmp_path))
        downloader.url = (server.url("/cifar-10-binary.tar.gz"), hashlib.md5(body).hexdigest())
        with pytest.raises(DataError, match="CIFAR-10 could not be downloaded .*Hash mismatch"):
            downloader.download()
    assert list(tmp_path.iterdir()) == []


def test_offline_names_the_files_and_the_folder(tmp_path):
    downloader = Cifar10Download(str(tmp_path))
    downloader.url = ("http://127.0.0.1:9/cifar-10-binary.tar.gz", "0" * 32)
    with pytest.raises(DataError, match=r"Offline, place data_batch_1.bin, .*test_batch.bin, batches.meta.txt in "
                                        + str(tmp_path / "cifar-10-batches-bin")):
        downloader.download()


def test_mnist_files_are_fetched_and_decompressed(tmp_path, monkeypatch):
    files = mnist_files()
    published = {f"/{name}.gz": body for name, body in files.items()}
    with serving(published) as server:
        monkeypatch.setattr(MnistDownload, "url_path", server.url("/"))
        monkeypatch.setattr(MnistDownload, "archive_md5", {f"{name}.gz": hashlib.md5(body).hexdigest()
                                                           for name, body in files.items()})
        downloader = MnistDownload(str(tmp_path))
        downloader.download()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)
    assert (tmp_path / "t10k-labels-idx1-ubyte").read_bytes() == gzip.decompress(files["t10k-labels-idx1-ubyte"])


def test_the_default_folder_is_under_the_download_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MINDCV_CACHE_DIR", str(tmp_path))
    assert get_dataset_download_root() == str(tmp_path / "datasets")
    assert Cifar10Download().path == str(tmp_path / "datasets" / "cifar10" / "cifar-10-batches-bin")
