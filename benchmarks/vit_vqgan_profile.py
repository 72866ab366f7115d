"""Where the time of one ViT-VQGAN training step goes, on JAX.

Traces two `train_on_batch` calls of `vit_vqgan_small` (random weights,
discriminator with 64 base filters, perceptual loss off, as in
`vit_vqgan_throughput.py`) with `jax.profiler` and prints, per device
stream, how long it was busy against the wall time of the traced calls,
then the kernels that took the most device time (by kernel name; the
stats of each stream's longest event are printed as the trace records
them):

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


def operation(event):
    """The kernel's name, with the HLO op it runs where the trace says."""
    stats = {name: str(value) for name, value in event.stats}
    return f"{event.name[:80]} {stats.get('hlo_op', '')}".strip()


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
                    key = (line.name, operation(event))
                    totals[key] += event.duration_ns
                    counts[key] += 1
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
