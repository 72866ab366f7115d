class Untracked:
    """Holds an object out of sight of Keras attribute tracking.

    Helpers such as a frozen VGG or a compiled inference model must not
    become part of a task's weights (they would land in saved presets).
    """

    def __init__(self, value):
        self.value = value
