"""nncore: the network of chapter 3 of Nielsen's 'Neural Networks and Deep
Learning' (network2) on a typed Cython core that calls BLAS.

``import nncore as network2`` runs the chapter's sessions as written; see
:class:`nncore.Network`.
"""

from .costs import (
    COSTS,
    CrossEntropyCost,
    QuadraticCost,
    sigmoid,
    sigmoid_prime,
    vectorized_result,
)
from .network import FORMAT_VERSION, History, ModelFileError, Network, load

__version__ = "0.1.0"

__all__ = [
    "Network",
    "History",
    "load",
    "ModelFileError",
    "FORMAT_VERSION",
    "CrossEntropyCost",
    "QuadraticCost",
    "COSTS",
    "sigmoid",
    "sigmoid_prime",
    "vectorized_result",
    "__version__",
]
