import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_vim")
class VIMClassDropout(keras.layers.Layer):
    """Replaces class ids by the "no class" id at random during training.

    Trains the unconditional distribution alongside the conditional one, so
    that classifier-free guidance can contrast the two at sampling time.

    Args:
        rate: float. Probability of dropping a class.
        no_class_id: int. The id that means "no class".
        seed: int or `None`.
    """

    def __init__(self, rate, no_class_id, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.no_class_id = int(no_class_id)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, class_ids, training=False):
        if not training or self.rate <= 0:
            return class_ids
        drop = keras.random.uniform(
            ops.shape(class_ids), seed=self.seed_generator
        )
        return ops.where(
            drop < self.rate,
            ops.full_like(class_ids, self.no_class_id),
            class_ids,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "rate": self.rate,
                "no_class_id": self.no_class_id,
                "seed": self.seed,
            }
        )
        return config
