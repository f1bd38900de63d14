"""Judging generated digits without a pretrained network.

The Inception Score and the FID are usually computed with an ImageNet network, which
we neither have nor want. The same ideas work with a small digit classifier trained on
the real digits (papers.md §7):

* :class:`DigitClassifier` — a one-hidden-layer MLP built from tinygan layers
  (Dense → ReLU → Dense) trained with softmax cross-entropy. Its softmax gives
  p(y|x); its 64 hidden ReLU units are the feature space for the Fréchet distance.
* :func:`inception_score` — IS = exp(E_x KL(p(y|x) ‖ p(y))): high when each sample is
  confidently one digit (sharp p(y|x)) *and* all digits appear (flat p(y)). Between 1
  (every sample the same class, or every prediction the same) and the number of classes.
* :func:`frechet_distance` — ‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2(Σ_a Σ_b)^{1/2}) between
  Gaussians fitted to two sets of features; 0 for identical statistics.
* :func:`class_histogram` — how many samples the classifier puts in each class: a
  missing bar is a missing mode.
* :func:`evaluate_samples` — all of the above in one dict.

For voxel shapes (3D-GAN, :mod:`tinygan.data.voxels`) the same scores come from a small
3-D convolutional classifier instead of the MLP:

* :class:`ShapeClassifier` — Conv3d → ReLU → Conv3d → ReLU → Dense → ReLU → Dense, on
  shapes moved so that their centre of mass sits at the grid's centre
  (:func:`centre_voxels`); its 64 hidden units are the feature space for the FID.
* :func:`nearest_iou` — for each sample, the intersection over union with the most
  similar training shape: near 1 means a copy (memorised), lower means a new shape.

These numbers depend on the classifier and the seed: they compare runs scored by the
same classifier, and the real held-out half and uniform noise give the scale. The
linear algebra runs on the host in float64 (``backend.to_numpy``), with the matrix
square root from an eigen-decomposition — no SciPy.
"""

from __future__ import annotations

import math

from . import backend
from .layers import Conv3d, Dense, Flatten, ReLU, no_grad
from .losses import softmax_cross_entropy
from .models import Sequential
from .optim import Adam

__all__ = ["DigitClassifier", "train_digit_classifier", "softmax", "inception_score",
           "inception_score_parts", "frechet_distance", "gaussian_stats", "frechet_from_stats",
           "class_histogram", "evaluate_samples", "uniform_noise", "ShapeClassifier",
           "train_shape_classifier", "centre_voxels", "binarize", "nearest_iou",
           "bernoulli_noise", "score_row"]

np = backend.numpy


def softmax(logits):
    """Row-wise softmax, shifted by the row maximum so that exp never overflows."""
    xp = backend.get_array_module(logits)
    e = xp.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class _Classifier:
    """What the two judges share: labels, accuracy and the training loop.

    A subclass has `net` (the whole network), `_inputs(x)` (checked, flattened or centred input
    in the network's dtype) and `features_and_probs(x)`.
    """

    def predict(self, x):
        """Host int64 class labels (N,)."""
        return self.features_and_probs(x)[1].argmax(axis=1)

    def accuracy(self, x, labels):
        return float((self.predict(x) == backend.to_numpy(labels)).mean())

    def _fit(self, x, labels, num_epochs, batch_size, lr, seed):
        """Minibatch Adam on the mean softmax cross-entropy; returns the per-epoch losses."""
        x_all = self._inputs(x)
        y_all = backend.asarray(backend.to_numpy(labels).astype(np.int64))
        n = x_all.shape[0]
        opt = Adam(self.net, lr=lr)
        order_rng = np.random.default_rng(seed)
        losses = []
        for _ in range(num_epochs):
            perm = backend.asarray(order_rng.permutation(n))
            total = 0.0
            for i in range(0, n, batch_size):
                idx = perm[i:i + batch_size]
                opt.zero_grad()
                logits = self.net.forward(x_all[idx])
                loss, dlogits = softmax_cross_entropy(logits, y_all[idx])
                self.net.backward(dlogits, need_dx=False)
                opt.step()
                total += float(loss) * idx.shape[0]
            losses.append(total / n)
        return losses


class DigitClassifier(_Classifier):
    """A small MLP classifier whose hidden layer doubles as a feature space.

    Math
    ----
    h = ReLU(x W₁ + b₁),   logits = h W₂ + b₂,   p(y|x) = softmax(logits)

    Shapes
    ------
    images (N, C, H, W) or (N, D) → flattened x (N, D) → h (N, hidden) → logits (N, K)

    Images come in the GAN's scale [−1, 1] and are mapped to [0, 1] inside.

    Parameters
    ----------
    in_features : D = C·H·W (64 for the 8×8 digits, 784 for MNIST).
    hidden : number of hidden ReLU units (the feature dimension for the FID).
    num_classes : K.
    rng : Generator for the initial weights.
    """

    def __init__(self, in_features, hidden=64, num_classes=10, rng=None, dtype="float32"):
        rng = backend.rng(0) if rng is None else rng
        self.in_features, self.hidden, self.num_classes = in_features, hidden, num_classes
        self.net = Sequential(Dense(in_features, hidden, rng=rng, dtype=dtype), ReLU(),
                              Dense(hidden, num_classes, rng=rng, dtype=dtype))

    def __repr__(self):
        return f"DigitClassifier({self.in_features}→{self.hidden}→{self.num_classes})"

    def _inputs(self, images):
        x = images.reshape(images.shape[0], -1)  # (N, D)
        if x.shape[1] != self.in_features:
            raise ValueError(f"{self!r} expected images with {self.in_features} values each, "
                             f"got shape {tuple(images.shape)}")
        dtype = self.net[0].params["W"].dtype
        x = x if x.dtype == dtype else x.astype(dtype)
        # The GAN's images live in [−1, 1]; the classifier sees them in [0, 1] (like
        # pixel/16 in papers.md §7), so its numbers compare with that calibration.
        half = dtype.type(0.5)
        return x * half + half

    def features_and_probs(self, images, batch_size=2048):
        """Host float64 arrays: hidden features (N, hidden) and p(y|x) (N, K)."""
        feats, probs = [], []
        for i in range(0, images.shape[0], batch_size):
            x = self._inputs(images[i:i + batch_size])
            h = self.net[1].forward(self.net[0].forward(x))
            logits = self.net[2].forward(h)
            self.net.clear_cache()  # inference only: no backward will consume these
            feats.append(backend.to_numpy(h).astype(np.float64))
            probs.append(backend.to_numpy(softmax(logits)).astype(np.float64))
        return np.concatenate(feats), np.concatenate(probs)

    def fit(self, images, labels, num_epochs=60, batch_size=32, lr=3e-3, seed=0):
        """Minibatch Adam on the mean softmax cross-entropy; returns the per-epoch losses."""
        return self._fit(images, labels, num_epochs, batch_size, lr, seed)


def train_digit_classifier(images, labels, hidden=64, seed=0, num_epochs=60, batch_size=32,
                           **kw):
    """Build and train a :class:`DigitClassifier` on (images, labels)."""
    d = int(math.prod(images.shape[1:]))
    clf = DigitClassifier(d, hidden=hidden, num_classes=int(backend.to_numpy(labels).max()) + 1,
                          rng=backend.rng(seed), dtype=images.dtype)
    clf.fit(images, labels, num_epochs=num_epochs, batch_size=batch_size, seed=seed, **kw)
    return clf


def _host_probs(probs, name):
    """Probabilities (N, K), N ≥ 1, as host float64; anything else is refused in one line."""
    p = backend.to_numpy(probs).astype(np.float64)
    if p.ndim != 2 or p.shape[0] < 1:
        raise ValueError(f"{name} expects probabilities of shape (N, K), got {p.shape}")
    return p


def inception_score(probs):
    """IS = exp( (1/N) Σ_n KL(p(y|x_n) ‖ p(y)) ),  p(y) = (1/N) Σ_n p(y|x_n).

    ``probs`` is (N, K) with rows summing to 1 (host or device). Terms with
    p(y|x) = 0 contribute 0 (the limit of p log p). Returns a float in [1, K].

    >>> round(inception_score(np.eye(10)), 12)           # confident and every class: K
    10.0
    >>> inception_score(np.tile(np.eye(10)[3], (5, 1)))  # one class only: 1
    1.0
    """
    p = _host_probs(probs, "inception_score")
    py = p.mean(axis=0, keepdims=True)  # (1, K) marginal
    pos = p > 0
    log_p = np.log(p, out=np.zeros_like(p), where=pos)
    # p(y) > 0 wherever some p(y|x) > 0, so this log is only taken where it is finite.
    log_py = np.log(np.broadcast_to(py, p.shape), out=np.zeros_like(p), where=pos)
    kl = (p * (log_p - log_py)).sum(axis=1)  # (N,)
    return float(np.exp(kl.mean()))


def inception_score_parts(probs):
    """The two factors of the Inception score: IS = diversity × confidence.

    Math
    ----
    Averaging KL(p(y|x_n) ‖ p(y)) = −H(p(y|x_n)) − Σ_y p(y|x_n) log p(y) over n, the second
    sum becomes −Σ_y p(y) log p(y) = H(p(y)), because p(y) is the mean of the p(y|x_n):

        log IS = H(p(y)) − (1/N) Σ_n H(p(y|x_n))
        diversity  = exp H(p(y))                      ∈ [1, K]: the effective number of classes
        confidence = exp(−(1/N) Σ_n H(p(y|x_n)))      ∈ [1/K, 1]: 1 when every row is one-hot

    So IS ≤ diversity: samples whose classes are unevenly spread cannot reach a high score
    however sharp each one is, and the two factors say which of the two is missing.
    Returns a dict with ``diversity``, ``confidence`` and their product ``inception_score``.

    >>> parts = inception_score_parts(np.eye(4)[[0, 0, 1, 2]])   # sharp, classes uneven
    >>> round(parts["diversity"], 4), parts["confidence"]
    (2.8284, 1.0)
    """
    p = _host_probs(probs, "inception_score_parts")

    def entropy(q):  # rows of q → their entropies, with 0 log 0 = 0
        return -(q * np.log(q, out=np.zeros_like(q), where=q > 0)).sum(axis=-1)

    diversity = float(np.exp(entropy(p.mean(axis=0))))
    confidence = float(np.exp(-entropy(p).mean()))
    return {"diversity": diversity, "confidence": confidence,
            "inception_score": diversity * confidence}


def gaussian_stats(features):
    """Mean (D,) and covariance (D, D) (unbiased, N − 1) of host float64 features (N, D)."""
    f = backend.to_numpy(features).astype(np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"gaussian_stats needs features of shape (N ≥ 2, D), got {f.shape}")
    mu = f.mean(axis=0)
    c = f - mu
    return mu, c.T @ c / (f.shape[0] - 1)


def _sqrtm_psd(a):
    """Symmetric PSD square root by eigen-decomposition: V diag(√λ) Vᵀ (λ clipped at 0)."""
    lam, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(lam, 0, None))) @ v.T


def frechet_from_stats(mu_a, cov_a, mu_b, cov_b):
    """Fréchet distance between N(μ_a, Σ_a) and N(μ_b, Σ_b).

    Math
    ----
    d² = ‖μ_a − μ_b‖² + Tr(Σ_a) + Tr(Σ_b) − 2 Tr((Σ_a Σ_b)^{1/2})

    Σ_a Σ_b is not symmetric, but it is similar to the symmetric PSD matrix
    M = Σ_a^{1/2} Σ_b Σ_a^{1/2} (conjugate by Σ_a^{1/2}), so both have the same
    eigenvalues λ_i ≥ 0 and Tr((Σ_a Σ_b)^{1/2}) = Σ_i √λ_i(M): two symmetric
    eigen-decompositions, no complex arithmetic, no SciPy.
    """
    diff = mu_a - mu_b
    s = _sqrtm_psd(cov_a)
    lam = np.linalg.eigvalsh(s @ cov_b @ s)
    tr_sqrt = np.sqrt(np.clip(lam, 0, None)).sum()
    d2 = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * tr_sqrt
    return float(max(d2, 0.0))  # round-off can leave a tiny negative number


def frechet_distance(features_a, features_b):
    """Fréchet distance between Gaussians fitted to two feature sets (N_a, D), (N_b, D).

    With the classifier's hidden features this is the FID idea on digits. It is biased
    upwards for small N, so compare sets of equal size.
    """
    return frechet_from_stats(*gaussian_stats(features_a), *gaussian_stats(features_b))


def class_histogram(probs, num_classes=None):
    """Counts (K,) of argmax labels: how many samples land in each class."""
    p = backend.to_numpy(probs)
    k = p.shape[1] if num_classes is None else num_classes
    return np.bincount(p.argmax(axis=1), minlength=k)


def uniform_noise(n, shape, seed=0, dtype="float32"):
    """Uniform noise images in [−1, 1], (N, *shape), on the current backend: the scale's floor."""
    gen = np.random.default_rng(seed)
    return backend.asarray(gen.uniform(-1, 1, size=(n, *shape)).astype(dtype))


def score_row(label, scores, label_width, count_width):
    """One line of a score table: label, IS, FID, classes present / K, the histogram.

    ``scores`` is an :func:`evaluate_samples` dict; the counts are right-aligned in
    ``count_width`` digits (the DCGAN and 3D-GAN reports print the same row this way).
    """
    hist = " ".join(f"{c:{count_width}d}" for c in scores["histogram"])
    return (f"{label:{label_width}s} {scores['inception_score']:6.2f} {scores['fid']:8.2f}  "
            f"{scores['classes_present']:2d}/{len(scores['histogram'])}"
            f"{' ' * (count_width + 1)}{hist}")


def evaluate_samples(classifier, images, reference_stats):
    """IS, FID against ``reference_stats`` (μ, Σ of real features) and the class histogram.

    Returns a dict: ``inception_score``, its two factors ``is_diversity`` and
    ``is_confidence`` (:func:`inception_score_parts`), ``fid``, ``histogram`` (a list of K
    counts), ``classes_present`` (classes with at least 1% of the samples) and ``n``.
    """
    feats, probs = classifier.features_and_probs(images)
    hist = class_histogram(probs, classifier.num_classes)
    n = int(probs.shape[0])
    parts = inception_score_parts(probs)
    return {
        "inception_score": inception_score(probs),
        "is_diversity": parts["diversity"],
        "is_confidence": parts["confidence"],
        "fid": frechet_from_stats(*gaussian_stats(feats), *reference_stats),
        "histogram": [int(c) for c in hist],
        "classes_present": int((hist >= max(1, 0.01 * n)).sum()),
        "n": n,
    }


# -- voxel shapes ----------------------------------------------------------------------------

def binarize(voxels, threshold=0.5):
    """Occupancies (N, 1, D, H, W) → 0/1 values of the same dtype: a voxel is in or out.

    G's sigmoid gives occupancy probabilities; the shape it proposes is the set of voxels
    above 1/2 (the threshold the paper's figures use too). Real shapes are already 0/1.
    """
    return (voxels > threshold).astype(voxels.dtype)


def centre_voxels(voxels):
    """Move each shape by whole voxels so that its centre of mass is at the grid's centre.

    Shapes: (N, 1, S, S, S) → the same, on the input's backend. The shift of shape n along
    each axis is ⌊S/2 − c + 1/2⌋ (S/2 − c rounded half up), c its centre of mass in voxel
    units (voxel i spans [i, i + 1)); what would leave the grid is dropped, zeros come in.
    An empty grid stays empty. A translation invariance the classifier would otherwise
    have to learn from data: with it, the classifier of :func:`train_shape_classifier`
    reaches about 98 % after 8,000 shapes, without it 86 % after 24,000 (measured, seed 0).
    """
    return backend.asarray(shift_voxels(voxels, centring_shifts(voxels)))


def centring_shifts(voxels):
    """The whole-voxel shifts of :func:`centre_voxels`: host (N, 3) ints, ⌊S/2 − c + 1/2⌋
    per axis (0 for an empty grid)."""
    v = backend.to_numpy(voxels)
    n, S = v.shape[0], v.shape[-1]
    w = v.reshape(n, S, S, S)
    mass = w.sum(axis=(1, 2, 3))
    t = np.arange(S) + 0.5
    com = np.stack([(w.sum(axis=axes) * t).sum(axis=1) for axes in ((2, 3), (1, 3), (1, 2))],
                   axis=1) / np.where(mass > 0, mass, 1)[:, None]          # (n, 3)
    return np.where(mass[:, None] > 0, np.floor(S / 2 - com + 0.5), 0).astype(int)


def shift_voxels(voxels, shifts):
    """Move each grid (N, 1, S, S, S) by its whole-voxel shift (N, 3); what leaves the grid
    is dropped, zeros come in. Host array of the input's dtype."""
    v = backend.to_numpy(voxels)
    n, S = v.shape[0], v.shape[-1]
    w = v.reshape(n, S, S, S)
    out = np.zeros_like(w)
    for i, sh in enumerate(shifts):
        src = tuple(slice(max(0, -k), S - max(0, k)) for k in sh)
        dst = tuple(slice(max(0, k), S - max(0, -k)) for k in sh)
        out[i][dst] = w[i][src]
    return out.reshape(v.shape)


class ShapeClassifier(_Classifier):
    """A small 3-D convolutional classifier for voxel shapes, whose hidden layer doubles as
    a feature space (the voxel counterpart of :class:`DigitClassifier`).

    Math
    ----
    v' = centre_voxels(v)   (a fixed shift by whole voxels, see :func:`centre_voxels`)
    h₁ = ReLU(Conv3d₁(v')), h₂ = ReLU(Conv3d₂(h₁))   (k4 s2 p1: 16³ → 8³ → 4³)
    h = ReLU(flatten(h₂) W₁ + b₁),   logits = h W₂ + b₂,   p(y|v) = softmax(logits)

    Shapes
    ------
    voxels (N, 1, S, S, S) with S = size, values in [0, 1] → h (N, hidden) → logits (N, K)

    Parameters
    ----------
    size : S (16).  channels : the two convolutions' widths.  hidden : feature dimension.
    num_classes : K.  rng : Generator for the initial weights.
    """

    def __init__(self, size=16, channels=(8, 16), hidden=64, num_classes=8, rng=None,
                 dtype="float32"):
        rng = backend.rng(0) if rng is None else rng
        c1, c2 = channels
        self.size, self.hidden, self.num_classes = size, hidden, num_classes
        self.body = Sequential(Conv3d(1, c1, 4, stride=2, padding=1, rng=rng, init="he",
                                      dtype=dtype), ReLU(),
                               Conv3d(c1, c2, 4, stride=2, padding=1, rng=rng, init="he",
                                      dtype=dtype), ReLU(), Flatten(),
                               Dense(c2 * (size // 4) ** 3, hidden, rng=rng, dtype=dtype),
                               ReLU())
        self.head = Dense(hidden, num_classes, rng=rng, dtype=dtype)
        self.net = Sequential(*self.body.layers, self.head)

    def __repr__(self):
        return f"ShapeClassifier({self.size}³→{self.hidden}→{self.num_classes})"

    def _inputs(self, voxels):
        S = self.size
        if tuple(voxels.shape[1:]) != (1, S, S, S):
            raise ValueError(f"{self!r} expected voxels of shape (N, 1, {S}, {S}, {S}), got "
                             f"{tuple(voxels.shape)}")
        dtype = self.head.params["W"].dtype
        return centre_voxels(voxels).astype(dtype)

    def features_and_probs(self, voxels, batch_size=500):
        """Host float64 arrays: hidden features (N, hidden) and p(y|v) (N, K)."""
        feats, probs = [], []
        self.net.eval()
        for i in range(0, voxels.shape[0], batch_size):
            x = self._inputs(voxels[i:i + batch_size])
            with no_grad(self.net):
                h = self.body.forward(x)
                logits = self.head.forward(h)
            feats.append(backend.to_numpy(h).astype(np.float64))
            probs.append(backend.to_numpy(softmax(logits)).astype(np.float64))
        self.net.train()
        return np.concatenate(feats), np.concatenate(probs)

    def fit(self, voxels, labels, num_epochs=2, batch_size=50, lr=2e-3, seed=0):
        """Minibatch Adam on the mean softmax cross-entropy; returns the per-epoch losses."""
        return self._fit(voxels, labels, num_epochs, batch_size, lr, seed)


def train_shape_classifier(voxels, labels, num_classes=None, seed=0, num_epochs=2,
                           batch_size=50, **kw):
    """Build and train a :class:`ShapeClassifier` on (voxels, labels)."""
    k = int(backend.to_numpy(labels).max()) + 1 if num_classes is None else num_classes
    clf = ShapeClassifier(size=int(voxels.shape[-1]), num_classes=k, rng=backend.rng(seed),
                          dtype=voxels.dtype)
    clf.fit(voxels, labels, num_epochs=num_epochs, batch_size=batch_size, seed=seed, **kw)
    return clf


def nearest_iou(samples, training, threshold=0.5, chunk=1024):
    """For each sample, its intersection over union with the most similar training shape.

    Math
    ----
    For 0/1 voxel vectors s and t: |s ∩ t| = s·t, |s ∪ t| = |s| + |t| − s·t, and
    IoU(s, t) = |s ∩ t| / |s ∪ t| (1 for two empty shapes). nearest_iou(s) = max_t IoU(s, t)
    over the training set: all intersections at once are one matrix product S Tᵀ.

    Both sets are binarised at ``threshold``. Returns host arrays (best IoU (N,),
    index of that training shape (N,)). Near 1 for every sample means G copies training
    shapes; real shapes held out from training give the level of a genuinely new shape.
    """
    s = backend.to_numpy(samples).reshape(samples.shape[0], -1) > threshold
    t = backend.to_numpy(training).reshape(training.shape[0], -1) > threshold
    S, T = s.astype(np.float32), t.astype(np.float32)   # counts ≤ 2²⁴ are exact in float32
    size_t = T.sum(axis=1)
    best = np.zeros(S.shape[0])
    where = np.zeros(S.shape[0], dtype=np.int64)
    for lo in range(0, S.shape[0], chunk):
        # exact integer counts, divided in float64 (float32 would round the ratio)
        inter = (S[lo:lo + chunk] @ T.T).astype(np.float64)             # (chunk, N_train)
        union = S[lo:lo + chunk].sum(axis=1)[:, None] + size_t[None, :] - inter
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 1.0)
        where[lo:lo + chunk] = iou.argmax(axis=1)
        best[lo:lo + chunk] = iou.max(axis=1)
    return best, where


def bernoulli_noise(n, size=16, p=0.1, seed=0, dtype="float32"):
    """Random voxel grids (n, 1, size, size, size): each voxel occupied with probability p.

    The noise reference for voxel samples, at the real shapes' mean occupancy p.
    """
    gen = np.random.default_rng(seed)
    return backend.asarray((gen.random((n, 1, size, size, size)) < p).astype(dtype))
