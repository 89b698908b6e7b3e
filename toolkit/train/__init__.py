"""Training zoo models on a folder of color photos (needs TensorFlow).

``train(TrainConfig(...))`` runs Keras fit with the loss of the model's output kind,
validates each epoch, keeps the best and last checkpoints and writes a model card.
"""

from edgecolor.train.fit import TrainConfig, TrainError, train

__all__ = ["TrainConfig", "TrainError", "train"]
