"""Where the time of one ViT-VQGAN training step goes, on JAX.

Traces two `train_on_batch` calls of `vit_vqgan_small` (random weights,
discriminator with 64 base filters, perceptual loss off, as in
`vit_vqgan_throughput.py`) with `jax.profiler` and prints, per device
stream, how long it was busy against the wall time of the traced calls,
then the device time of each part of the model (discriminator, encoder,
decoder, quantizer, optimizer, by the JAX name scope the trace gives each
kernel) and the kernels that took the most device time (by kernel name and
HLO op; the stats of each stream's longest event are printed as the trace
records them):

    python benchmarks/vit_vqgan_profile.py --policy mixed_bfloat16 --batch 32

Off a GPU the "device" is the CPU's XLA threads.
"""

import argparse
import collections
import glob
import tempfile
import time

from vit_vqgan_throughput import training_task


def build(args):
    import keras

    keras.config.set_dtype_policy(args.policy)
    settings = {"remat_blocks": not args.no_remat}
    return training_task(args.preset, settings, filters=64)


# Parts of the task, by the layer names in the JAX name scope of an op (the
# generator's pass through the discriminator has only its sublayers' names).
PARTS = {
    "encoder": ("encoder",),
    "decoder": ("decoder",),
    "quantizer": ("quantizer",),
    "discriminator": (
        "discriminator",
        "from_rgb",
        "block_",
        "final_conv",
        "final_dense",
        "output_dense",
    ),
    "optimizer": ("adam", "optimizer"),
}


def operation(event):
    """The kernel's name, with the HLO op it runs where the trace says, and
    the part of the model its op comes from (its JAX name scope, the
    trace's `name` stat on GPUs)."""
    stats = {name: str(value) for name, value in event.stats}
    scope = stats.get("name", "") + " " + stats.get("tf_op", "")
    part = next(
        (p for p, names in PARTS.items() if any(n in scope for n in names)),
        "other",
    )
    kernel = f"{event.name[:80]} {stats.get('hlo_op', '')}".strip()
    return part, kernel


def report(path, wall_ns, top):
    import jax

    data = jax.profiler.ProfileData.from_file(path)
    planes = [p for p in data.planes if p.name.startswith("/device:")]
    if not planes:
        planes = [p for p in data.planes if p.name == "/host:CPU"]
    for plane in planes:
        print(f"{plane.name}: traced wall time {wall_ns / 1e6:.1f} ms")
        totals = collections.Counter()
        counts = collections.Counter()
        parts = collections.Counter()
        # Kernels appear once per stream and again as "XLA Ops": count once.
        names = [line.name for line in plane.lines]
        grouped = ["XLA Ops"] if "XLA Ops" in names else names
        for line in plane.lines:
            events = list(line.events)
            if not events or line.name == "python":
                continue
            busy = sum(e.duration_ns for e in events)
            print(
                f"  line {line.name!r}: {len(events)} events, busy "
                f"{busy / 1e6:.1f} ms ({busy / wall_ns:.0%} of wall)"
            )
            longest = max(events, key=lambda e: e.duration_ns)
            stats = {n: str(v)[:60] for n, v in longest.stats}
            print(f"    longest event: {longest.name[:80]!r} {stats}")
            if line.name in grouped:
                for event in events:
                    part, kernel = operation(event)
                    key = (line.name, kernel)
                    totals[key] += event.duration_ns
                    counts[key] += 1
                    parts[part] += event.duration_ns
        for part, ns in parts.most_common():
            print(f"  part {part}: {ns / 1e6:.1f} ms")
        for (line, name), ns in totals.most_common(top):
            print(
                f"  {ns / 1e6:9.2f} ms {counts[line, name]:5d}x  "
                f"[{line[:16]}] {name}"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="vit_vqgan_small")
    parser.add_argument("--policy", default="mixed_bfloat16")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--no-remat", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    import jax
    import numpy as np

    model = build(args)
    size = model.backbone.image_size
    rng = np.random.default_rng(0)
    images = rng.random((args.batch, size, size, 3), "float32")
    for _ in range(2):
        model.train_on_batch(images)
    start = time.perf_counter()
    model.train_on_batch(images)
    step = time.perf_counter() - start
    print(
        f"{args.policy}, batch {args.batch}, remat {not args.no_remat}: "
        f"one step {step:.3f} s ({args.batch / step:.1f} images/s)"
    )
    folder = tempfile.mkdtemp()
    jax.profiler.start_trace(folder)
    start = time.perf_counter_ns()
    for _ in range(2):
        model.train_on_batch(images)
    wall = time.perf_counter_ns() - start
    jax.profiler.stop_trace()
    path = glob.glob(f"{folder}/**/*.xplane.pb", recursive=True)[0]
    report(path, wall, args.top)


if __name__ == "__main__":
    main()
