"""nncore: the network of chapter 3 of 'Neural Networks and Deep Learning'
(network2) on a typed Cython core that calls BLAS."""

from . import _core

__version__ = "0.1.0"
