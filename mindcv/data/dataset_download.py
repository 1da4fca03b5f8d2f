"""Downloads of the data sets MindSpore reads itself (MNIST, CIFAR-10, CIFAR-100), MindCV's classes.

Each class knows its files, their md5 and where they are published; :meth:`download` does nothing when the files
are in place, and otherwise fetches the archives (checked, through a temporary file) and unpacks them. Offline, the
error names the files to place and the folder to place them in.
"""
import os
from typing import List, Optional, Sequence, Tuple

from ..utils.download import DownLoad, get_default_download_root
from ..utils.errors import DataError, DownloadError

__all__ = ["get_dataset_download_root", "MnistDownload", "Cifar10Download", "Cifar100Download"]


def get_dataset_download_root() -> str:
    """Where data sets are downloaded: ``<download root>/datasets``."""
    return os.path.join(get_default_download_root(), "datasets")


class _DatasetDownload(DownLoad):
    """A data set published as ``archives`` (``(url, md5)``) that unpack to ``resources`` in :attr:`path`."""

    name = ""
    folder = ""
    base_dir = ""
    resources: Sequence[str] = ()

    def __init__(self, root: Optional[str] = None):
        super().__init__()
        self.root = root if root is not None else os.path.join(get_dataset_download_root(), self.folder)
        self.path = os.path.join(self.root, self.base_dir)

    def archives(self) -> List[Tuple[str, str]]:
        raise NotImplementedError

    def missing(self, folder: Optional[str] = None) -> List[str]:
        """The files of the data set that are not in ``folder`` (default: :attr:`path`)."""
        folder = self.path if folder is None else folder
        return [name for name in self.resources if not os.path.isfile(os.path.join(folder, name))]

    def download(self) -> None:
        """Fetch and unpack the data set unless all its files are in :attr:`path` already."""
        if not self.missing():
            return
        os.makedirs(self.root, exist_ok=True)
        for url, md5 in self.archives():
            try:
                self.download_and_extract_archive(url, download_path=self.root, md5=md5, remove_finished=True)
            except (DownloadError, OSError) as exc:
                raise DataError(f"{self.name} could not be downloaded ({exc}). Offline, place "
                                f"{', '.join(self.resources)} in {self.path} (from {url}) and leave "
                                "download off.") from exc
        if self.missing():
            raise DataError(f"{self.name}: the downloaded archives lack {', '.join(self.missing())} in {self.path}.")


class MnistDownload(_DatasetDownload):
    """MNIST's four idx files (from the mirror torchvision uses; MindCV's yann.lecun.com address is gone)."""

    name = "MNIST"
    folder = "mnist"
    url_path = "https://ossci-datasets.s3.amazonaws.com/mnist/"
    archive_md5 = {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                   "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
                   "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
                   "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}
    resources = tuple(name[:-3] for name in archive_md5)

    def archives(self) -> List[Tuple[str, str]]:
        return [(self.url_path + name, md5) for name, md5 in self.archive_md5.items()
                if name[:-3] in self.missing()]


class Cifar10Download(_DatasetDownload):
    """CIFAR-10's binary version."""

    name = "CIFAR-10"
    folder = "cifar10"
    url = ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530")
    base_dir = "cifar-10-batches-bin"
    resources = ("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin",
                 "test_batch.bin", "batches.meta.txt")

    def archives(self) -> List[Tuple[str, str]]:
        return [self.url]


class Cifar100Download(Cifar10Download):
    """CIFAR-100's binary version."""

    name = "CIFAR-100"
    folder = "cifar100"
    url = ("https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8")
    base_dir = "cifar-100-binary"
    resources = ("train.bin", "test.bin", "fine_label_names.txt", "coarse_label_names.txt")
