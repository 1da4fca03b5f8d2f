"""mindcv for Xception: the Xception family on MindSpore, with training, validation and pretrained weights.

As in MindCV, the top level holds every public name of ``data``, ``loss``, ``models``, ``optim``,
``scheduler`` and ``utils`` (``from mindcv import create_model, create_optimizer``).
"""
__version__ = "0.1.0"

from . import data, loss, models, optim, scheduler, utils  # noqa: E402
from .data import *  # noqa: E402,F401,F403
from .loss import *  # noqa: E402,F401,F403
from .models import *  # noqa: E402,F401,F403
from .optim import *  # noqa: E402,F401,F403
from .scheduler import *  # noqa: E402,F401,F403
from .utils import *  # noqa: E402,F401,F403

__all__ = ["__version__", *data.__all__, *loss.__all__, *models.__all__, *optim.__all__, *scheduler.__all__,
           *utils.__all__]
