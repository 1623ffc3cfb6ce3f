"""nncore: the network of chapter 3 of Nielsen's 'Neural Networks and Deep
Learning' (network2) on a typed Cython core that calls BLAS.

``import nncore as network2`` runs the chapter's sessions as written; see
:class:`nncore.Network`.
"""

from .activations import ACTIVATIONS, softmax
from .costs import (
    COSTS,
    CrossEntropyCost,
    LogLikelihoodCost,
    QuadraticCost,
    sigmoid,
    sigmoid_prime,
    vectorized_result,
)
from .network import FORMAT_VERSION, ModelFileError, Network, load
from .training import (
    DiminishingReturns,
    HalveOnPlateau,
    History,
    NoImprovement,
    StepSchedule,
    StopTraining,
    load_history,
)


def plot_history(*args, **kwargs):
    """See :func:`nncore.plotting.plot_history` (imports matplotlib on use)."""
    from .plotting import plot_history as plot
    return plot(*args, **kwargs)

__version__ = "0.1.0"

__all__ = [
    "Network",
    "History",
    "load_history",
    "plot_history",
    "NoImprovement",
    "DiminishingReturns",
    "HalveOnPlateau",
    "StepSchedule",
    "StopTraining",
    "load",
    "ModelFileError",
    "FORMAT_VERSION",
    "CrossEntropyCost",
    "QuadraticCost",
    "LogLikelihoodCost",
    "COSTS",
    "ACTIVATIONS",
    "softmax",
    "sigmoid",
    "sigmoid_prime",
    "vectorized_result",
    "__version__",
]
