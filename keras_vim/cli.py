"""`keras-vim`: generate images from text, or reconstruct an image.

    keras-vim generate --preset my_babeldraw "a red 3 in the top left" \\
        --num-images 4 --guidance-scale 3 --seed 0 --output grid.png
    keras-vim reconstruct --preset vit_vqgan_photos_64 photo.png \\
        --output out.png

`--backend jax|tensorflow|torch` runs it on that Keras backend.
"""

import argparse
import os
import sys


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-vim",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--backend",
        choices=("jax", "tensorflow", "torch"),
        default=None,
        help="Keras backend (default: $KERAS_BACKEND or Keras' default)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser(
        "generate", help="sample images for prompts with a Babeldraw preset"
    )
    generate.add_argument("prompts", nargs="+", help="one or more prompts")
    generate.add_argument(
        "--preset", required=True, help="a Babeldraw preset name or folder"
    )
    generate.add_argument("--num-images", type=int, default=4)
    generate.add_argument(
        "--num-candidates",
        type=int,
        default=1,
        help="sample this many candidates per image and keep the one the "
        "preset's reranker scores best",
    )
    generate.add_argument(
        "--upscale",
        action="store_true",
        help="upsample with the preset's super-resolution component",
    )
    generate.add_argument("--guidance-scale", type=float, default=3.0)
    generate.add_argument("--temperature", type=float, default=None)
    generate.add_argument("--top-k", type=int, default=None)
    generate.add_argument("--top-p", type=float, default=None)
    generate.add_argument("--seed", type=int, default=None)
    generate.add_argument("--output", default="grid.png")
    reconstruct = commands.add_parser(
        "reconstruct", help="encode and decode an image with a ViT-VQGAN"
    )
    reconstruct.add_argument("image", help="an image file (PNG, JPEG...)")
    reconstruct.add_argument("--preset", default="vit_vqgan_photos_64")
    reconstruct.add_argument("--output", default="reconstruction.png")
    return parser


def _generate(args):
    import keras_vim
    from keras_vim.utils.image_utils import save_image_grid

    model = keras_vim.Babeldraw.from_preset(args.preset)
    out = model.generate(
        args.prompts,
        num_images=args.num_images,
        num_candidates=args.num_candidates,
        upscale=args.upscale,
        guidance_scale=args.guidance_scale,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        verbose=1,
    )
    # One row per prompt.
    save_image_grid(out["images"], args.output, columns=args.num_images)
    print(f"wrote {len(out['images'])} images to {args.output}")


def _reconstruct(args):
    import numpy as np
    from PIL import Image

    import keras_vim
    from keras_vim.utils.image_utils import save_image_grid

    model = keras_vim.ViTVQGAN.from_preset(args.preset)
    size = model.backbone.image_size
    try:
        image = Image.open(args.image).convert("RGB").resize((size, size))
    except OSError as e:
        raise ValueError(f"Could not read image={args.image!r}: {e}") from e
    original = np.asarray(image)[None]
    reconstruction = model.reconstruct(original)
    save_image_grid(
        np.concatenate([original / 255.0, reconstruction]),
        args.output,
        columns=2,
    )
    print(f"wrote original | reconstruction to {args.output}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    if args.backend:
        import keras

        if keras.config.backend() != args.backend:
            # Importing keras_vim loaded Keras already (the backend is fixed
            # at import): start again with the backend set.
            env = dict(os.environ, KERAS_BACKEND=args.backend)
            command = [sys.executable, "-m", "keras_vim.cli", *argv]
            os.execve(sys.executable, command, env)
    try:
        if args.command == "generate":
            _generate(args)
        else:
            _reconstruct(args)
    except ValueError as e:
        print(f"keras-vim {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
