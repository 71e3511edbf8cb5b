"""The course's topics, in teaching order, and what each may use."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """A topic module students write (``<name>.py`` or ``<name>.ipynb``)."""

    name: str
    title: str
    manual: bool = True
    # Method names a manual topic legitimately calls on its own objects (e.g. the
    # autodiff Value class defines .relu() and .backward()).
    allowed_methods: frozenset[str] = frozenset()
    # Other topics its hidden suite calls (the training capstone trains with the
    # student's own init, backprop, batchnorm, dropout and optimizers).
    needs: tuple[str, ...] = ()


_ALL = [
    Topic("activations", "Activation functions and their derivatives"),
    Topic("losses", "Loss functions and information theory"),
    Topic("gradients", "Gradients of linear, logistic and softmax regression; gradient descent"),
    Topic("backprop", "Backpropagation through layers by hand"),
    Topic(
        "autodiff",
        "Forward and reverse mode automatic differentiation",
        allowed_methods=frozenset({"backward", "sigmoid", "relu", "exp", "log", "tanh"}),
    ),
    Topic("optimizers", "Optimizers, learning-rate schedules and gradient clipping"),
    Topic("init", "Weight initialisation"),
    Topic("dropout", "Dropout and noise"),
    Topic("batchnorm", "Batch and layer normalisation by hand"),
    Topic(
        "training",
        "The training loop",
        manual=False,
        needs=("init", "backprop", "batchnorm", "dropout", "optimizers"),
    ),
]

TOPICS: dict[str, Topic] = {t.name: t for t in _ALL}


def topic_names() -> list[str]:
    return list(TOPICS)


def suite_topic(filename: str) -> str | None:
    """The topic a suite file grades by its name: ``test_<topic>.py`` or
    ``test_<topic>_<part>.py`` (a suite may also say so with ``@pytest.mark.topic``)."""
    stem = filename[:-3] if filename.endswith(".py") else filename
    if stem.startswith("test_"):
        stem = stem[5:]
    for topic in sorted(TOPICS, key=len, reverse=True):
        if stem == topic or stem.startswith(topic + "_"):
            return topic
    return None
