"""The catalogue of plausible bugs for tools/mutate.py.

Each mutant: ``id``; ``file``; ``old``, an exact snippet of the current code (it must
occur exactly once in the file), and ``new``, the bug (or ``edits``, a list of such
(old, new) pairs applied together); ``why``, one line; ``tests``, the test
files that should catch it (the tool runs only those, to keep each run short).
Ids: T train.py, B layers/base.py, A activations, D dense, C conv, N norm, S shape,
L losses.py, O optim.py, W gans/wgan.py, P gans/pacgan.py.
"""

TRAIN = ["tests/test_train.py"]
LAYERS = ["tests/test_layers.py"]
CONV = ["tests/test_conv.py"]
NORM = ["tests/test_norm.py"]
LOSSES = ["tests/test_losses.py"]
OPTIM = ["tests/test_optim.py"]
WGAN = ["tests/test_wgan.py"]
PACK = ["tests/test_mixtures_modes.py", "tests/test_train.py"]

_FIT_D = ("        d_stats = [update_d(G, D, sample_real(batch_size), sample_noise(batch_size), "
          "opt_D)\n                   for _ in range(k)]\n")
_FIT_G = "        g_stats = update_g(G, D, sample_noise(batch_size), opt_G, generator_loss)\n"

MUTANTS = [
    # -- train.py: Algorithm 1's randomness and wiring ----------------------------------------
    dict(id="T1", file="tinygan/train.py", tests=TRAIN,
         why="one noise batch reused for all k D steps",
         old=_FIT_D,
         new=("        z_d = sample_noise(batch_size)\n"
              "        d_stats = [update_d(G, D, sample_real(batch_size), z_d, opt_D)\n"
              "                   for _ in range(k)]\n")),
    dict(id="T2", file="tinygan/train.py", tests=TRAIN,
         why="G's step reuses the last D step's noise instead of fresh noise",
         edits=[(_FIT_D,
                 "        zs = [sample_noise(batch_size) for _ in range(k)]\n"
                 "        d_stats = [update_d(G, D, sample_real(batch_size), z_, opt_D) "
                 "for z_ in zs]\n"),
                (_FIT_G, "        g_stats = update_g(G, D, zs[-1], opt_G, generator_loss)\n")]),
    dict(id="T3", file="tinygan/train.py", tests=TRAIN,
         why="one data batch reused for all k D steps",
         old=_FIT_D,
         new=("        x_d = sample_real(batch_size)\n"
              "        d_stats = [update_d(G, D, x_d, sample_noise(batch_size), opt_D)\n"
              "                   for _ in range(k)]\n")),
    dict(id="T4", file="tinygan/train.py", tests=TRAIN,
         why="update_d forgets D.zero_grad(): gradients pile up over the k steps",
         old="    D.zero_grad()\n    x_fake = fake_batch(G, z)\n",
         new="    x_fake = fake_batch(G, z)\n"),
    dict(id="T5", file="tinygan/train.py", tests=TRAIN,
         why="fake batch labelled 1",
         old="bce_with_logits(fake_logits, xp.zeros_like(fake_logits))",
         new="bce_with_logits(fake_logits, xp.ones_like(fake_logits))"),
    dict(id="T6", file="tinygan/train.py", tests=TRAIN,
         why="update_g does not freeze D (D's grads filled in G's step)",
         old="    with frozen(D):\n        dx = D.backward(d_logits)\n",
         new="    dx = D.backward(d_logits)\n"),
    dict(id="T7", file="tinygan/train.py", tests=TRAIN,
         why="update_g forgets G.zero_grad(): G's gradients pile up over iterations",
         old="    G.zero_grad()\n    x_fake = G.forward(z)\n    logits = D.forward(x_fake)\n",
         new="    x_fake = G.forward(z)\n    logits = D.forward(x_fake)\n"),
    dict(id="T8", file="tinygan/train.py", tests=TRAIN,
         why="update_g ignores its loss argument (always non-saturating)",
         old="loss_G, d_logits = generator_loss(logits, loss)",
         new="loss_G, d_logits = generator_loss(logits, \"nonsaturating\")"),
    dict(id="T9", file="tinygan/train.py", tests=TRAIN,
         why="G's BatchNorm statistics move in D's steps too (k + 1 times per iteration)",
         old="    with no_grad(G, update_stats=False):\n",
         new="    with no_grad(G):\n"),
    dict(id="T10", file="tinygan/train.py", tests=TRAIN,
         why="history's loss_D is the sum, not the mean, of the k D steps",
         old="for s in d_stats) / k\n",
         new="for s in d_stats)\n"),
    dict(id="T11", file="tinygan/train.py", tests=TRAIN,
         why="update_d skips the real batch's backward (the stale-cache family)",
         old="    D.backward(d_real, need_dx=False)  # nothing upstream",
         new="    pass  # nothing upstream"),
    dict(id="T12", file="tinygan/train.py", tests=TRAIN,
         why="opt_D steps between the real and the fake backward",
         old="    fake_logits = D.forward(x_fake)\n",
         new="    opt_D.step()\n    D.zero_grad()\n    fake_logits = D.forward(x_fake)\n"),

    # -- layers/base.py: the cache contract ---------------------------------------------------
    dict(id="B1", file="tinygan/layers/base.py", tests=TRAIN + LAYERS,
         why="the second forward in training mode silently replaces the cache",
         old="            if self.training and self.__dict__.get(\"_cache\") is not None:",
         new="            if False:"),
    dict(id="B2", file="tinygan/layers/base.py", tests=TRAIN + LAYERS,
         why="no_grad() still caches",
         old="        layer.caching = False\n",
         new="        layer.caching = True\n"),
    dict(id="B3", file="tinygan/layers/base.py", tests=TRAIN + LAYERS,
         why="zero_grad() does nothing",
         old="            g.fill(0)",
         new="            pass"),
    dict(id="B4", file="tinygan/layers/base.py", tests=TRAIN + LAYERS,
         why="frozen() forgets to restore the flags",
         old="            layer.frozen = was",
         new="            pass"),
    dict(id="B5", file="tinygan/layers/base.py", tests=LAYERS,
         why="the check also fires in eval mode",
         old="            if self.training and self.__dict__.get(\"_cache\") is not None:",
         new="            if self.__dict__.get(\"_cache\") is not None:"),

    # -- layers/activations.py ----------------------------------------------------------------
    dict(id="A1", file="tinygan/layers/activations.py", tests=LAYERS + WGAN,
         why="(Leaky)ReLU slope 1 at exactly 0 (x > 0 → x >= 0)",
         old="        positive = x > 0\n", new="        positive = x >= 0\n"),
    dict(id="A2", file="tinygan/layers/activations.py", tests=LAYERS,
         why="Sigmoid backward s(1 + s)",
         old="return dout * s * (1 - s)", new="return dout * s * (1 + s)"),
    dict(id="A3", file="tinygan/layers/activations.py", tests=LAYERS,
         why="Tanh backward 1 − t",
         old="return dout * (1 - t * t)", new="return dout * (1 - t)"),
    dict(id="A4", file="tinygan/layers/activations.py", tests=LAYERS,
         why="LeakyReLU negative slope 1 + α",
         old="slope = positive * x.dtype.type(1 - self.alpha) + a",
         new="slope = positive * x.dtype.type(1 + self.alpha) + a"),
    dict(id="A5", file="tinygan/layers/activations.py", tests=LAYERS,
         why="sigmoid's negative branch uses r (σ(|x|))",
         old="return xp.where(x >= 0, r, e * r)", new="return xp.where(x >= 0, r, r)"),

    # -- layers/dense.py ----------------------------------------------------------------------
    dict(id="D1", file="tinygan/layers/dense.py", tests=LAYERS,
         why="Dense db averaged over the batch instead of summed",
         old="self.grads[\"b\"] += dout.sum(axis=0)", new="self.grads[\"b\"] += dout.mean(axis=0)"),
    dict(id="D2", file="tinygan/layers/dense.py", tests=LAYERS,
         why="Dense backward overwrites dW instead of accumulating",
         old="self.grads[\"W\"] += x.T @ dout", new="self.grads[\"W\"][...] = x.T @ dout"),
    dict(id="D3", file="tinygan/layers/dense.py", tests=LAYERS,
         why="Dense ignores frozen: parameter gradients accumulate inside frozen()",
         old="        if not self.frozen:\n            self.grads[\"W\"]",
         new="        if True:\n            self.grads[\"W\"]"),

    # -- layers/conv.py: corners --------------------------------------------------------------
    dict(id="C1", file="tinygan/layers/conv.py", tests=CONV,
         why="ConvTranspose2d ignores output_padding in its canvas (O > 0 corner)",
         old="        h_full = max(S * (H - 1) + K, P + H_out)\n",
         new="        h_full = max(S * (H - 1) + K, P + H_out - self.output_padding)\n"),
    dict(id="C2", file="tinygan/layers/conv.py", tests=CONV,
         why="Conv2d's dx forgets the input rows past the last full window ((H+2P−K) % S ≠ 0)",
         old="dx_pad = col2im(dcols, K, S, H_out, W_out, H + 2 * P, W + 2 * P)",
         new="dx_pad = col2im(dcols, K, S, H_out, W_out, S * (H_out - 1) + K, "
             "S * (W_out - 1) + K)"),
    dict(id="C2b", file="tinygan/layers/conv.py", tests=CONV,
         why="im2col steps by one column instead of S (S > 1 along W only)",
         old="strides=(sN, S * sH, S * sW, sH, sW, sC)",
         new="strides=(sN, S * sH, sW, sH, sW, sC)"),
    dict(id="C3", file="tinygan/layers/conv.py", tests=CONV,
         why="Conv2d's output size rounds up: (H + 2P − K + S − 1)//S + 1",
         old="    return (h + 2 * padding - kernel_size) // stride + 1",
         new="    return -(-(h + 2 * padding - kernel_size) // stride) + 1"),
    dict(id="C4", file="tinygan/layers/conv.py", tests=CONV,
         why="ConvTranspose2d db averaged over the batch instead of summed",
         old="self.grads[\"b\"] += dout.sum(axis=(0, 2, 3))",
         new="self.grads[\"b\"] += dout.sum(axis=(2, 3)).mean(axis=0)"),
    dict(id="C5", file="tinygan/layers/conv.py", tests=CONV,
         why="Conv2d's dx crop forgets the padding offset",
         old="return dx_pad[:, P:P + H, P:P + W, :].transpose(0, 3, 1, 2)",
         new="return dx_pad[:, :H, :W, :].transpose(0, 3, 1, 2)"),
    dict(id="C6", file="tinygan/layers/conv.py", tests=CONV,
         why="batch 1: ConvTranspose2d's dW drops the batch sum (uses the first sample)",
         old="self.grads[\"W\"] += (X.T @ dcols).reshape",
         new="self.grads[\"W\"] += (X[:H * W].T @ dcols[:H * W]).reshape"),
    dict(id="C7", file="tinygan/layers/conv.py", tests=CONV,
         why="Conv2d weight flattened in the wrong order (transpose(2, 3, 0, 1))",
         old="        W_mat = self.params[\"W\"].transpose(2, 3, 1, 0).reshape(K * K * C_in, "
             "C_out)\n        out = cols @ W_mat",
         new="        W_mat = self.params[\"W\"].transpose(3, 2, 1, 0).reshape(K * K * C_in, "
             "C_out)\n        out = cols @ W_mat"),

    # -- layers/norm.py -----------------------------------------------------------------------
    dict(id="N1", file="tinygan/layers/norm.py", tests=NORM,
         why="train-mode backward is the diagonal γr·dout (ignores that μ, σ² depend on x)",
         old="        if training:\n            # dx",
         new="        if False:\n            # dx"),
    dict(id="N2", file="tinygan/layers/norm.py", tests=NORM,
         why="running variance without the M/(M − 1) correction",
         old="(m * M / (M - 1)) * var", new="m * var"),
    dict(id="N3", file="tinygan/layers/norm.py", tests=NORM,
         why="momentum read the Keras way (weight of the old value)",
         old="self.running_mean = (1 - m) * self.running_mean + m * mu",
         new="self.running_mean = m * self.running_mean + (1 - m) * mu"),
    dict(id="N4", file="tinygan/layers/norm.py", tests=NORM,
         why="normalise with the unbiased variance",
         old="var = (x_hat * x_hat).mean(axis=0)",
         new="var = (x_hat * x_hat).sum(axis=0) / (M - 1)"),
    dict(id="N5", file="tinygan/layers/norm.py", tests=NORM,
         why="eval mode normalises with the batch's statistics",
         old="        if self.training:\n            if M < 2:",
         new="        if True:\n            if M < 2:"),
    dict(id="N6", file="tinygan/layers/norm.py", tests=NORM + TRAIN,
         why="update_stats ignored: BatchNorm always updates its running statistics",
         old="            if self.update_stats:  # False", new="            if True:  # False"),

    # -- layers/shape.py ----------------------------------------------------------------------
    dict(id="S1", file="tinygan/layers/shape.py", tests=["tests/test_shape_softmax.py"],
         why="Flatten in channels-last order",
         old="        return x.reshape(x.shape[0], -1)",
         new="        return x.transpose(0, 2, 3, 1).reshape(x.shape[0], -1) if x.ndim == 4 "
             "else x.reshape(x.shape[0], -1)"),

    # -- losses.py ----------------------------------------------------------------------------
    dict(id="L1", file="tinygan/losses.py", tests=LOSSES,
         why="bce_with_logits gradient not divided by N",
         old="    da = (p - y) / n\n", new="    da = p - y\n"),
    dict(id="L2", file="tinygan/losses.py", tests=LOSSES,
         why="bce_with_logits stable form with + a·y",
         old="loss = (xp.maximum(a, 0) - a * y + xp.log1p(e)).sum() / n",
         new="loss = (xp.maximum(a, 0) + a * y + xp.log1p(e)).sum() / n"),
    dict(id="L3", file="tinygan/losses.py", tests=LOSSES + TRAIN,
         why="non-saturating generator gradient −σ(a) (the minimax one)",
         old="return softplus(-fake_logits).sum() / n, -sigmoid(-fake_logits) / n",
         new="return softplus(-fake_logits).sum() / n, -sigmoid(fake_logits) / n"),
    dict(id="L4", file="tinygan/losses.py", tests=LOSSES,
         why="discriminator loss: the fake term averaged over the real batch size",
         old="d_fake = sigmoid(fake_logits) / n_f", new="d_fake = sigmoid(fake_logits) / n_r"),

    # -- optim.py -----------------------------------------------------------------------------
    dict(id="O1", file="tinygan/optim.py", tests=OPTIM,
         why="Adam bias correction by (1 − β) instead of (1 − βᵗ)",
         old="        c1 = 1 - self.b1 ** self.t\n", new="        c1 = 1 - self.b1\n"),
    dict(id="O2", file="tinygan/optim.py", tests=OPTIM,
         why="Adam ε inside the square root's correction (ε·√c₂ → ε)",
         old="buf += self.eps * math.sqrt(c2)", new="buf += self.eps"),
    dict(id="O3", file="tinygan/optim.py", tests=OPTIM,
         why="SGD momentum with dampening (v ← μv + (1 − μ)g)",
         old="        v += g\n", new="        v += (1 - self.momentum) * g\n"),
    dict(id="O4", file="tinygan/optim.py", tests=OPTIM,
         why="RMSProp ε inside the root",
         old="p -= self.lr * g / (xp.sqrt(s) + self.eps)",
         new="p -= self.lr * g / xp.sqrt(s + self.eps)"),
    dict(id="O5", file="tinygan/optim.py", tests=OPTIM,
         why="Adam's second moment without (1 − β₂)",
         old="        buf *= 1 - self.b2\n", new=""),

    # -- gans/wgan.py -------------------------------------------------------------------------
    dict(id="W1", file="tinygan/gans/wgan.py", tests=WGAN,
         why="WGAN-GP: one ε for the whole batch instead of one per sample",
         old="eps = xp.asarray(rng.random((x_real.shape[0], 1)))",
         new="eps = xp.asarray(rng.random((1, 1)))"),
    dict(id="W2", file="tinygan/gans/wgan.py", tests=WGAN,
         why="WGAN-GP: one ε per element instead of per sample",
         old="eps = xp.asarray(rng.random((x_real.shape[0], 1)))",
         new="eps = xp.asarray(rng.random(x_real.shape))"),
    dict(id="W3", file="tinygan/gans/wgan.py", tests=WGAN,
         why="WGAN-GP: x̂ = εx + εx̃",
         old="return eps * x_real + (1 - eps) * x_fake, eps",
         new="return eps * x_real + eps * x_fake, eps"),
    dict(id="W4", file="tinygan/gans/wgan.py", tests=WGAN,
         why="fit_wgan: a fresh generator with the same seed every step (the same ε each step)",
         old="clip=clip, gp_lambda=gp_lambda, rng=gen)",
         new="clip=clip, gp_lambda=gp_lambda, rng=backend.rng(seed))"),
    dict(id="W5", file="tinygan/gans/wgan.py", tests=WGAN,
         why="penalty gradient summed, not averaged, over the batch",
         old="delta = (2 * lam / N) *", new="delta = (2 * lam) *"),
    dict(id="W6", file="tinygan/gans/wgan.py", tests=WGAN,
         why="critic_input_gradient: slope 1 at exactly 0 (h > 0 → h >= 0)",
         old="s = (h > 0) * x.dtype.type(1 - layer.alpha)",
         new="s = (h >= 0) * x.dtype.type(1 - layer.alpha)"),
    dict(id="W7", file="tinygan/gans/wgan.py", tests=WGAN,
         why="penalty on ‖g‖² − 1 instead of ‖g‖ − 1 in the double backward",
         old="((norms - 1) / safe)[:, None] * g", new="(norms - 1)[:, None] * g"),
    dict(id="W8", file="tinygan/gans/wgan.py", tests=WGAN,
         why="update_critic interpolates between real and real",
         old="x_hat, _ = interpolate(x_real, x_fake, rng)",
         new="x_hat, _ = interpolate(x_real, x_real, rng)"),
    dict(id="W9", file="tinygan/gans/wgan.py", tests=WGAN,
         why="clip_weights clips only the weight matrices, not the biases",
         old="    for p in model.params.values():\n        xp = backend.get_array_module(p)\n"
             "        xp.clip(p, -c, c, out=p)",
         new="    for k_, p in model.params.items():\n        xp = backend.get_array_module(p)\n"
             "        if k_.endswith('W'):\n            xp.clip(p, -c, c, out=p)"),
    dict(id="W10", file="tinygan/gans/wgan.py", tests=WGAN,
         why="fit_wgan: G's step reuses the last critic step's noise",
         edits=[("        stats = [update_critic(G, C, sample_real(batch_size), "
                 "sample_noise(batch_size), opt_C,\n",
                 "        zs = [sample_noise(batch_size) for _ in range(n_critic)]\n"
                 "        stats = [update_critic(G, C, sample_real(batch_size), zs[i_], opt_C,\n"),
                ("                 for _ in range(n_critic)]\n",
                 "                 for i_ in range(n_critic)]\n"),
                ("g = update_generator(G, C, sample_noise(batch_size), opt_G)",
                 "g = update_generator(G, C, zs[-1], opt_G)")]),

    # -- gans/pacgan.py -----------------------------------------------------------------------
    dict(id="P1", file="tinygan/gans/pacgan.py", tests=PACK,
         why="a pack is m copies of its first sample",
         old="        return x.reshape(x.shape[0] // self.m, self.m * x.shape[1])  # (N, m·D)",
         new="        return x[::self.m].repeat(self.m, axis=0).reshape(x.shape[0] // self.m, "
             "self.m * x.shape[1])"),
    dict(id="P2", file="tinygan/gans/pacgan.py", tests=PACK,
         why="pack n takes samples n, n + N, … (strided), backward unchanged",
         old="        return x.reshape(x.shape[0] // self.m, self.m * x.shape[1])  # (N, m·D)",
         new="        return x.reshape(self.m, x.shape[0] // self.m, x.shape[1]).transpose(1, 0, 2)"
             ".reshape(x.shape[0] // self.m, self.m * x.shape[1])"),
    dict(id="P3", file="tinygan/gans/pacgan.py", tests=PACK + ["tests/test_modes_experiment.py"],
         why="packed() forgets the Pack layer",
         old="    return Sequential(Pack(m), *layers)", new="    return Sequential(*layers)"),
]
