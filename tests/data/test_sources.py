"""Reading image files without decoding them: layout checks, every Pillow mode, bad files once."""
import gzip
import logging
import subprocess
import sys
import tempfile
import textwrap
from io import BytesIO

import numpy as np
import pytest
from mindspore.dataset import vision
from PIL import Image

from mindcv.data.constants import is_image_file
from mindcv.data.sources import (ArraySource, DataError, ImageFileReader, ImageFolderSource, decode_image,
                                 find_bad_images, list_image_files, read_idx, scan_class_names)
from tests.helpers import venv_env, write_image


def _decoded(data: bytes) -> np.ndarray:
    """What the pipelines' C++ decoder makes of the bytes a reader hands on."""
    return vision.Decode()(np.frombuffer(data, np.uint8))


def test_class_names_are_sorted_folders(image_folder):
    assert scan_class_names(image_folder / "train") == ["cat", "dog", "emu"]


def test_flat_folder_explains_layout(tmp_path):
    write_image(tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG")
    with pytest.raises(DataError, match=r"no class sub-folders\. Arrange it as .*<class_name>/<image>"):
        scan_class_names(tmp_path / "val")


def test_unknown_class_in_other_split_errors(image_folder):
    write_image(image_folder / "val" / "yak" / "0.jpg")
    with pytest.raises(DataError, match=r"class folders \['yak'\] that the training split does not have"):
        list_image_files(image_folder / "val", scan_class_names(image_folder / "train"), False)


def test_empty_training_class_folders_are_listed(image_folder):
    (image_folder / "train" / "yak").mkdir()
    (image_folder / "train" / "zebu").mkdir()
    with pytest.raises(DataError, match=r"2 class folder\(s\) .* hold no images: yak, zebu"):
        list_image_files(image_folder / "train", scan_class_names(image_folder / "train"), True)


GREY = 32768  # a mid-grey 16-bit value: 128 in 8 bits


@pytest.mark.parametrize("mode, fmt, expected_mean", [
    ("I;16", "PNG", 128), ("I;16", "TIFF", 128), ("I", "TIFF", 128), ("F", "TIFF", 128), ("LA", "PNG", 128),
    ("P", "PNG", 128), ("P", "GIF", 128), ("CMYK", "JPEG", 128), ("RGB", "WEBP", 128), ("L", "JPEG", 128),
])
def test_every_pillow_mode_becomes_correct_rgb(tmp_path, mode, fmt, expected_mean):
    grey = np.full((12, 16), 128, np.uint8)
    if mode in ("I;16", "I"):
        image = Image.fromarray(np.full((12, 16), GREY, np.uint16 if mode == "I;16" else np.int32))
    elif mode == "F":
        image = Image.fromarray(np.full((12, 16), 128 / 255, np.float32))
    else:
        image = Image.fromarray(grey).convert(mode)
    path = tmp_path / f"x.{fmt.lower()}"
    image.save(path, format=fmt, **({"quality": 100} if fmt in ("JPEG", "WEBP") else {}))
    rgb = _decoded(ImageFileReader().read(path))
    assert rgb.shape == (12, 16, 3) and rgb.dtype == np.uint8
    assert abs(float(rgb.mean()) - expected_mean) <= 2, (mode, fmt, rgb.mean())
    assert abs(float(decode_image(path.read_bytes()).mean()) - expected_mean) <= 2


def test_palette_with_transparency_uses_its_colours(tmp_path):
    palette = Image.new("P", (8, 8), 3)
    palette.putpalette([0, 0, 0] * 3 + [200, 10, 30] + [0, 0, 0] * 252)
    palette.save(tmp_path / "p.png", transparency=0)
    rgb = _decoded(ImageFileReader().read(tmp_path / "p.png"))
    assert rgb[0, 0].tolist() == [200, 10, 30]


def test_truncated_corrupt_and_oversized_files_are_refused_with_the_reason(tmp_path):
    good = write_image(tmp_path / "good.jpg", size=(64, 48))
    (tmp_path / "cut.jpg").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (tmp_path / "text.png").write_bytes(b"not an image at all")
    write_image(tmp_path / "huge.png", size=(300, 200), value=9)
    reader = ImageFileReader(max_pixels=50_000)
    assert _decoded(reader.read(good)).shape == (48, 64, 3)
    with pytest.raises(DataError, match="truncated"):
        reader.read(tmp_path / "cut.jpg")
    with pytest.raises(OSError):
        reader.read(tmp_path / "text.png")
    with pytest.raises(DataError, match=r"300x200 pixels is above the limit of 50000 \(PIL.Image.MAX_IMAGE_PIXELS"):
        reader.read(tmp_path / "huge.png")


def _jpeg_bytes(progressive: bool) -> bytearray:
    buffer = BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(buffer, "JPEG", progressive=progressive)
    return bytearray(buffer.getvalue())


def _segment(data: bytes, marker: int) -> int:
    return data.index(bytes([0xFF, marker]))


def test_broken_jpeg_headers_that_crash_mindspores_decoder_are_refused(tmp_path):
    # Each of these aborts the process (segmentation fault / SIGFPE) inside MindSpore's C++ decoder.
    no_scan = _jpeg_bytes(False)
    no_scan[_segment(no_scan, 0xDA) - 20:_segment(no_scan, 0xDA) + 40] = bytes(60)
    undefined_table = _jpeg_bytes(False)
    undefined_table[_segment(undefined_table, 0xDA) + 6] = 0x43  # first component: DC table 4, AC table 3
    progressive = _jpeg_bytes(True)
    second_dht = _segment(progressive, 0xC4) + 2
    lost_table = bytearray(progressive)
    lost_table[_segment(progressive[second_dht:], 0xC4) + second_dht + 1] = 0xE4  # a later DHT becomes APP4
    for name, data, reason in [("no_scan", no_scan, "structure is corrupt"),
                               ("undefined_table", undefined_table, "table it does not define"),
                               ("lost_table", lost_table, "table it does not define")]:
        (tmp_path / f"{name}.jpg").write_bytes(bytes(data))
        with pytest.raises(DataError, match=reason):
            ImageFileReader().read(tmp_path / f"{name}.jpg")


def test_segments_after_a_complete_sequential_scan_are_not_read_by_the_reader_or_the_decoder(tmp_path):
    """A baseline JPEG's one scan of all components is the whole image: the reader stops checking there, and
    MindSpore's decoders never read what follows (here a broken table and a scan naming undefined tables)."""
    clean = bytes(_jpeg_bytes(False))
    trailing = b"\xff\xc4\x00\x05\x17\xff\xff" + b"\xff\xda\x00\x0c\x03\x01\x33\x02\x33\x03\x33\x00\x3f\x00"
    (tmp_path / "trailing.jpg").write_bytes(clean[:-2] + trailing + b"\x12\x34" * 50 + b"\xff\xd9")
    data = np.frombuffer(ImageFileReader().read(tmp_path / "trailing.jpg"), np.uint8)
    np.testing.assert_array_equal(vision.Decode()(data), vision.Decode()(np.frombuffer(clean, np.uint8)))
    assert vision.RandomCropDecodeResize(32, scale=(1.0, 1.0), ratio=(4 / 3, 4 / 3))(data).shape == (32, 32, 3)
    progressive = bytes(_jpeg_bytes(True))
    (tmp_path / "progressive.jpg").write_bytes(progressive[:-2] + trailing + b"\xff\xd9")
    with pytest.raises(DataError):  # several scans: every one is checked
        ImageFileReader().read(tmp_path / "progressive.jpg")


def test_damaged_image_data_is_decoded_as_noise_but_a_damaged_png_is_refused(tmp_path):
    damaged = _jpeg_bytes(True)
    damaged[-200:-150] = bytes(50)  # inside the last scan's entropy-coded data
    (tmp_path / "noisy.jpg").write_bytes(bytes(damaged))
    assert _decoded(ImageFileReader().read(tmp_path / "noisy.jpg")).shape == (48, 64, 3)
    png = write_image(tmp_path / "a.png", size=(64, 48))
    data = bytearray(png.read_bytes())
    data[len(data) // 2] ^= 0xFF
    png.write_bytes(bytes(data))
    with pytest.raises(DataError, match="IDAT.*CRC mismatch"):
        ImageFileReader().read(png)


@pytest.mark.slow
def test_every_randomly_damaged_file_the_reader_accepts_decodes_in_mindspore():
    """2,000 seeded single-to-triple byte corruptions of JPEGs (baseline and progressive, headers and data) and
    PNGs, in a child process: a decoder crash would kill it, a decoder error is counted."""
    script = textwrap.dedent("""
        import io, numpy as np
        from PIL import Image
        from mindspore.dataset import vision
        from mindcv.data.constants import DECODE_ERRORS
        from mindcv.data.sources import DataError, ImageFileReader
        reader, rng, accepted, failed = ImageFileReader(), np.random.default_rng(7), 0, 0
        for fmt, options in [("JPEG", {}), ("JPEG", {"progressive": True}), ("PNG", {})] * 2:
            buffer = io.BytesIO()
            Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(buffer, fmt, **options)
            original = buffer.getvalue()
            for trial in range(333):
                data = bytearray(original)
                for _ in range(int(rng.integers(1, 4))):
                    data[int(rng.integers(2, 700 if trial % 2 else len(data) - 2))] = int(rng.integers(0, 256))
                open("damaged", "wb").write(bytes(data))
                try:
                    encoded = reader.read("damaged")
                except (DataError, *DECODE_ERRORS):
                    continue
                accepted += 1
                try:
                    vision.RandomCropDecodeResize(32)(np.frombuffer(encoded, np.uint8))
                except RuntimeError:
                    failed += 1
        print("accepted", accepted, "failed", failed)
    """)
    with tempfile.TemporaryDirectory() as work:
        result = subprocess.run([sys.executable, "-c", script], cwd=work, env=venv_env(), capture_output=True,
                                text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    accepted, failed = map(int, result.stdout.split()[1::2])
    assert accepted > 800 and failed == 0


def test_bad_files_are_replaced_in_training_and_left_out_in_evaluation(image_folder, caplog):
    caplog.set_level(logging.WARNING, logger="mindcv")
    (image_folder / "train" / "cat" / "0.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    samples = list_image_files(image_folder / "train", ["cat", "dog", "emu"], True)
    training = ImageFolderSource(samples, ["cat", "dog", "emu"], replace_bad=True)
    rows = [training[i] for i in range(len(training))] + [training[len(training)]]  # the next epoch's first draw
    assert [int(label) for _, label in rows[:2]] == [0, 0]  # cat/0.jpg replaced by cat/1.jpg
    assert np.array_equal(rows[0][0], rows[1][0])
    assert training.skipped == [str(samples[0][0])]
    assert caplog.text.count("Skipping unreadable image") == 1  # once, however often it is met
    assert "the next readable file of the split takes its place" in caplog.text
    evaluation = ImageFolderSource(samples, ["cat", "dog", "emu"], replace_bad=False)
    assert [int(evaluation[i][1]) for i in range(3)] == [-1, 0, 0]
    assert "it is left out" in caplog.text


def test_find_bad_images_lists_each_bad_file(image_folder):
    (image_folder / "train" / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    good = image_folder / "train" / "dog" / "0.jpg"
    (image_folder / "train" / "dog" / "truncated.jpg").write_bytes(good.read_bytes()[:200])
    assert sorted(p.rsplit("/", 1)[1] for p in find_bad_images(image_folder)) == ["broken.jpg", "truncated.jpg"]


def test_array_source_replicates_grey_to_rgb_and_emits_keys():
    source = ArraySource(np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4), np.array([1, 0]), ["a", "b"], seed=3)
    image, label = source[0]
    assert image.shape == (4, 4, 3) and label == 1 and np.array_equal(image[..., 0], image[..., 2])
    keyed = source.with_keys()
    assert keyed[2][2] != keyed[0][2] and np.array_equal(keyed[2][0], image)  # draw 2 = sample 0, next epoch


def test_read_idx_round_trip_and_truncation(tmp_path):
    array = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    header = bytes([0, 0, 8, 3]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    (tmp_path / "x-idx3-ubyte.gz").write_bytes(gzip.compress(header + array.tobytes()))
    assert np.array_equal(read_idx(tmp_path / "x-idx3-ubyte.gz", 3), array)
    (tmp_path / "bad").write_bytes(header + array.tobytes()[:5])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "bad", 3)


def test_listing_order_is_sorted_paths_in_flat_and_nested_class_folders(tmp_path):
    """The order every data order derives from: sorted paths, as pathlib sorts them (hidden files and other
    extensions left out, hidden folders read, symbolic links to folders not followed)."""
    names = ["a/x.jpg", "a/Z.JPG", "a/a b.png", "a/readme.txt", "a/.h.jpg", "b/b/y.png", "b/b-c/z.jpg", "b/b.d/q.jpeg",
             "b/.hid/k.jpg", "b/sub/deeper/w.webp", "b/\u00e9.jpg", "c/1.jpg"]
    for name in names:
        path = tmp_path / "train" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    (tmp_path / "train" / "b" / "link").symlink_to(tmp_path / "train" / "c")
    listed = list_image_files(tmp_path / "train", ["a", "b", "c"], True)
    expected = [(path, label) for label, name in enumerate("abc")
                for path in sorted(p for p in (tmp_path / "train" / name).rglob("*") if is_image_file(p))]
    assert list(listed) == expected and listed.labels.tolist() == [0, 0, 0] + [1] * 6 + [2]
