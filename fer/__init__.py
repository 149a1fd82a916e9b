"""fer: facial-expression recognition on masked faces (training and evaluation on top of maskgen)."""

from .data import LABELS, FaceDataset, find_samples
from .metrics import classification_metrics
from .models import count_parameters, create_model, list_models
from .train import CONFIGS, TrainConfig, train

__all__ = ["CONFIGS", "LABELS", "FaceDataset", "TrainConfig", "classification_metrics", "count_parameters",
           "create_model", "find_samples", "list_models", "train"]
