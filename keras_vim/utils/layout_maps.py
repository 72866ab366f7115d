"""Shared pieces of the backbones' `get_layout_map` methods.

Every Transformer here uses keras-hub's attention naming
(`query|key|value` kernels `(hidden, heads, head_dim)`,
`attention_output` `(heads, head_dim, hidden)`) and its feed-forward naming,
so one rule shards them all, as keras-hub's `GemmaBackbone.get_layout_map`
does: heads and the MLP's hidden axis on the model axis, the other axis on
the data axis (fully sharded weights). Keras matches the keys with
`re.fullmatch` against variable paths.
"""

import keras


def new_layout_map(
    device_mesh, model_parallel_dim_name, data_parallel_dim_name
):
    """An empty `LayoutMap` on `device_mesh`, after checking its axes."""
    if not isinstance(device_mesh, keras.distribution.DeviceMesh):
        raise ValueError(
            "`device_mesh` must be a `keras.distribution.DeviceMesh`. "
            f"Received: device_mesh={device_mesh!r}"
        )
    for name in (model_parallel_dim_name, data_parallel_dim_name):
        if name not in device_mesh.axis_names:
            raise ValueError(
                f"{name!r} is not an axis of `device_mesh`, whose axes are "
                f"{device_mesh.axis_names}."
            )
    return keras.distribution.LayoutMap(device_mesh)


def shard_transformer_blocks(layout_map, block, attention, model, data):
    """Shards attention on heads and the MLP on its hidden axis.

    Args:
        layout_map: the `LayoutMap` to add to.
        block: regex for the block's path, e.g. `r"decoder_layer_\\d+/"`.
        attention: regex for the attention sublayers' names in the block.
        model: the mesh axis the weights are split on.
        data: the mesh axis the batch is split on.
    """
    attention = block + attention
    layout_map[attention + "/(query|key|value)/kernel"] = (data, model, None)
    layout_map[attention + "/attention_output/kernel"] = (model, None, data)
    layout_map[block + "feedforward_intermediate_dense/kernel"] = (data, model)
    layout_map[block + "feedforward_output_dense/kernel"] = (model, data)
