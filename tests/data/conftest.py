"""Generated image folders for the data tests."""
import numpy as np
import pytest
from PIL import Image


def write_image(path, size=(40, 30), value=None, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    array = np.full(shape, value, np.uint8) if value is not None else rng.integers(0, 255, shape, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


@pytest.fixture
def image_folder(tmp_path):
    """root/{train,val}/{cat,dog,emu}/ with 5 train and 3 val images per class; val lacks 'emu'."""
    root = tmp_path / "imgs"
    for split, count in (("train", 5), ("val", 3)):
        for c, name in enumerate(("cat", "dog", "emu")):
            if split == "val" and name == "emu":
                continue
            for i in range(count):
                write_image(root / split / name / f"{i}.jpg", value=40 * c + i, seed=i)
    return root
