"""Int8 block-wise quantization of optimizer state."""

from keras import ops

DEFAULT_BLOCK_SIZE = 128


def momentum_block_size(last_dim, block_size=DEFAULT_BLOCK_SIZE):
    """Returns the quantization block length used along a last axis.

    The block must divide `last_dim` so that the int8 momentum reshapes to
    `(..., num_blocks, block)` without padding. The largest divisor of
    `last_dim` that is at most `block_size` is used when it is at least half
    of `block_size`; otherwise (short rows, or a last axis with no suitable
    divisor, e.g. a prime vocabulary size) the whole row is one block, so
    the scales never cost more than one float per `block_size // 2` values.

    Args:
        last_dim: int. Length of the variable's last axis (1 for scalars).
        block_size: int. Preferred number of values per block.

    Returns:
        int. A divisor of `last_dim`.
    """
    if last_dim <= block_size:
        return last_dim
    for candidate in range(block_size, block_size // 2 - 1, -1):
        if candidate > 0 and last_dim % candidate == 0:
            return candidate
    return last_dim


def blocked_shape(shape, block):
    """Returns `shape[:-1] + (num_blocks, block)`; scalars are one block."""
    shape = tuple(shape)
    prefix, last_dim = (shape[:-1], shape[-1]) if shape else ((), 1)
    return prefix + (last_dim // block, block)


def quantize_int8_blockwise(x, block):
    """Quantizes `x` to int8 with one float32 absmax scale per block.

    Args:
        x: float tensor. Its last axis (a scalar counts as one value) is
            split into consecutive blocks of `block` values.
        block: int. Block length; must divide the last axis.

    Returns:
        A tuple `(values, scales)`: int8 values with the shape of `x`, and
        float32 scales of shape `x.shape[:-1] + (num_blocks,)` such that
        `values * scales` (per block) approximates `x` to within half a
        scale step. All-zero blocks get a zero scale and zero values.
    """
    shape = tuple(x.shape)
    blocks = ops.reshape(ops.cast(x, "float32"), blocked_shape(shape, block))
    scales = ops.max(ops.abs(blocks), axis=-1) / 127.0
    safe_scales = ops.where(scales > 0.0, scales, ops.ones_like(scales))
    values = ops.round(blocks / ops.expand_dims(safe_scales, -1))
    values = ops.cast(ops.clip(values, -127.0, 127.0), "int8")
    return ops.reshape(values, shape), scales


def dequantize_int8_blockwise(values, scales):
    """Returns the float32 tensor that `quantize_int8_blockwise` encoded.

    Args:
        values: int8 tensor from `quantize_int8_blockwise`.
        scales: float32 tensor of shape `values.shape[:-1] + (num_blocks,)`.

    Returns:
        A float32 tensor with the shape of `values`.
    """
    shape = tuple(values.shape)
    num_blocks = scales.shape[-1]
    last_dim = shape[-1] if shape else 1
    blocks = ops.reshape(
        ops.cast(values, "float32"),
        blocked_shape(shape, last_dim // num_blocks),
    )
    return ops.reshape(blocks * ops.expand_dims(scales, -1), shape)
