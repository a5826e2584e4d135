"""Models over spectro-temporal volumes (B, 1, S, L, F): the paper's 3D CNN and its baselines.

Importing this package registers every model (the imports below); build one with `create_model`.
"""

from ser_core.models.cnn2d import Cnn2d, Cnn2dConfig
from ser_core.models.cnn3d import Cnn3d, Cnn3dConfig
from ser_core.models.cnn_lstm import CnnLstm, CnnLstmConfig
from ser_core.models.registry import VolumeModel, build_model, create_model, list_models, register_model

__all__ = [
    "Cnn2d",
    "Cnn2dConfig",
    "Cnn3d",
    "Cnn3dConfig",
    "CnnLstm",
    "CnnLstmConfig",
    "VolumeModel",
    "build_model",
    "create_model",
    "list_models",
    "register_model",
]
