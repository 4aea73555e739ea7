"""An RBF support-vector classifier whose kernel width is relative to the number of features."""

from __future__ import annotations

import numpy as np
from sklearn.svm import SVC


class RelativeGammaSVC(SVC):
    """RBF ``SVC`` with ``gamma = gamma_scale / n_features``, set when fitted.

    On standardised features ``gamma_scale = 1`` is scikit-learn's ``gamma="scale"``. A grid over
    ``gamma_scale`` stays meaningful whatever number of features a selection step before it keeps
    (an absolute ``gamma`` grid would not).

    Parameters
    ----------
    C : float
        Regularisation (larger: fewer training errors tolerated).
    gamma_scale : float
        Kernel width relative to ``1 / n_features``.
    class_weight, random_state :
        As in :class:`sklearn.svm.SVC`.
    """

    def __init__(self, C=1.0, gamma_scale=1.0, class_weight=None, random_state=None):
        super().__init__(kernel="rbf", C=C, class_weight=class_weight, random_state=random_state)
        self.gamma_scale = gamma_scale

    def fit(self, X, y, sample_weight=None):
        self.gamma = float(self.gamma_scale) / max(np.shape(X)[1], 1)
        return super().fit(X, y, sample_weight=sample_weight)
