import gzip

import numpy as np
import pytest

from mindcv.data.sources import (ArraySource, DataError, ImageFolderSource, decode_image, find_bad_images, read_idx,
                                 scan_class_names)
from tests.data.conftest import write_image


def test_class_names_are_sorted_folders(image_folder):
    assert scan_class_names(image_folder / "train") == ["cat", "dog", "emu"]


def test_flat_folder_explains_layout(tmp_path):
    write_image(tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG")
    with pytest.raises(DataError, match=r"no class sub-folders\. Arrange it as .*<class_name>/<image>"):
        scan_class_names(tmp_path / "val")


def test_grey_and_palette_images_become_rgb(tmp_path):
    write_image(tmp_path / "g.png", mode="L", value=7)
    image = decode_image((tmp_path / "g.png").read_bytes())
    assert image.shape == (30, 40, 3) and image.dtype == np.uint8 and (image == 7).all()


def test_unknown_class_in_other_split_errors(image_folder):
    write_image(image_folder / "val" / "yak" / "0.jpg")
    with pytest.raises(DataError, match=r"class folders \['yak'\] that the training split does not have"):
        ImageFolderSource(image_folder / "val", scan_class_names(image_folder / "train"))


def test_corrupt_images_are_skipped_with_a_warning(image_folder, caplog):
    (image_folder / "train" / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    good = image_folder / "train" / "dog" / "0.jpg"
    (image_folder / "train" / "dog" / "truncated.jpg").write_bytes(good.read_bytes()[:200])
    source = ImageFolderSource(image_folder / "train", ["cat", "dog", "emu"])
    labels = [source[i][1] for i in range(len(source))]
    assert labels.count(-1) == 2 and len(source.skipped) == 2
    assert "broken.jpg" in caplog.text and "truncated.jpg" in caplog.text
    assert sorted(p.rsplit("/", 1)[1] for p in find_bad_images(image_folder)) == ["broken.jpg", "truncated.jpg"]


def test_array_source_replicates_grey_to_rgb():
    source = ArraySource(np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4), np.array([1, 0]), ["a", "b"])
    image, label = source[0]
    assert image.shape == (4, 4, 3) and label == 1 and np.array_equal(image[..., 0], image[..., 2])


def test_read_idx_round_trip_and_truncation(tmp_path):
    array = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    header = bytes([0, 0, 8, 3]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    (tmp_path / "x-idx3-ubyte.gz").write_bytes(gzip.compress(header + array.tobytes()))
    assert np.array_equal(read_idx(tmp_path / "x-idx3-ubyte.gz", 3), array)
    (tmp_path / "bad").write_bytes(header + array.tobytes()[:5])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "bad", 3)
