"""mindcv for Xception: the Xception family on MindSpore, with training, validation and pretrained weights.

As in MindCV, the top level holds every public name of ``data``, ``loss``, ``models``, ``optim``,
``scheduler`` and ``utils`` (``from mindcv import create_model, create_optimizer``).
"""
__version__ = "0.1.0"

from . import data, loss, models, optim, scheduler, utils
from .data import *
from .loss import *
from .models import *
from .optim import *
from .scheduler import *
from .utils import *

__all__ = ["__version__", *data.__all__, *loss.__all__, *models.__all__, *optim.__all__, *scheduler.__all__,
           *utils.__all__]
