"""Presets shipped with keras_vim, installed as the `keras_vim_presets` package."""
