"""pix2pix's adversarial term: a PatchGAN discriminator trained against the generator.

``edgecolor train --gan`` wraps the zoo generator in :class:`AdversarialTrainer`: each step
the generator minimises ``l1_weight * L1(target, output) + BCE(D(input, output), real)`` and
the 70x70 PatchGAN discriminator (Isola et al. 2017: C64-C128-C256-C512, 4x4 kernels,
LeakyReLU 0.2, no BatchNorm on the first block, one logit per patch) minimises
``BCE(D(input, target), real) + BCE(D(input, output), fake)``, halved. Only the generator is
a model you deploy; the discriminator is saved beside the checkpoint so ``--resume`` goes on
with it.
"""

from __future__ import annotations

L1_WEIGHT = 100.0  # lambda of the pix2pix paper
D_LR, D_BETA1 = 2e-4, 0.5  # the paper's Adam for the discriminator
DESCRIBE = (f"+ PatchGAN adversarial loss (70x70 patches, lambda_L1 = {L1_WEIGHT:g}; "
            f"discriminator Adam lr {D_LR:g}, beta1 {D_BETA1:g})")


def check_generator(spec) -> None:
    """ValueError unless the model maps one image to one image of the same size (pix2pix)."""
    if len(spec.inputs) != 1 or spec.extra.get("output_stride", 1) != 1:
        raise ValueError(f"--gan needs an image-to-image generator with one input (the pix2pix "
                         f"models); {spec.name} is not one")


def patchgan(keras, x_shape: tuple[int, ...], y_shape: tuple[int, ...], width: float = 1.0):
    """Discriminator (input image, candidate output) -> patch logits (B, h/8, w/8, 1).

    ``width`` scales the channels (small instances for tests)."""
    L = keras.layers
    x_in = L.Input(x_shape, name="d_input")
    y_in = L.Input(y_shape, name="d_candidate")
    h = L.Concatenate(name="d_pair")([x_in, y_in])
    for i, (n, stride, norm) in enumerate([(64, 2, False), (128, 2, True), (256, 2, True),
                                           (512, 1, True)], 1):
        h = L.Conv2D(max(4, int(n * width)), 4, strides=stride, padding="same",
                     use_bias=not norm, name=f"d_conv{i}")(h)
        if norm:
            h = L.BatchNormalization(name=f"d_bn{i}")(h)
        h = L.LeakyReLU(0.2, name=f"d_lrelu{i}")(h)
    out = L.Conv2D(1, 4, padding="same", name="d_logits")(h)
    return keras.Model([x_in, y_in], out, name="patchgan")


def adversarial_trainer(keras, generator, discriminator, l1_weight: float = L1_WEIGHT):
    """-> a Keras model whose ``fit`` trains ``generator`` and ``discriminator`` together.

    Compile it with ``compile(g_optimizer=..., d_optimizer=...)``; its logs: ``loss`` (the
    generator's L1, comparable with plain training), ``adv`` and ``d_loss``.
    """
    from edgecolor._tf import import_tf

    tf, _ = import_tf()
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    class AdversarialTrainer(keras.Model):
        def __init__(self):
            super().__init__()
            self.generator, self.discriminator = generator, discriminator

        def compile(self, g_optimizer, d_optimizer):
            super().compile()
            self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer

        def call(self, x, training=False):
            return self.generator(x, training=training)

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
                fake = self.generator(x, training=True)
                d_real = self.discriminator([x, y], training=True)
                d_fake = self.discriminator([x, fake], training=True)
                l1 = tf.reduce_mean(tf.abs(y - fake))
                adv = bce(tf.ones_like(d_fake), d_fake)
                g_loss = l1_weight * l1 + adv
                d_loss = 0.5 * (bce(tf.ones_like(d_real), d_real)
                                + bce(tf.zeros_like(d_fake), d_fake))
            g_vars = self.generator.trainable_variables
            d_vars = self.discriminator.trainable_variables
            g_grads, d_grads = g_tape.gradient(g_loss, g_vars), d_tape.gradient(d_loss, d_vars)
            self.g_optimizer.apply_gradients(zip(g_grads, g_vars, strict=True))
            self.d_optimizer.apply_gradients(zip(d_grads, d_vars, strict=True))
            return {"loss": l1, "adv": adv, "d_loss": d_loss}

    return AdversarialTrainer()
