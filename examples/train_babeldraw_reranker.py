"""Trains the reranker shipped in `babeldraw_digits` (and on its own).

A `BabeldrawReranker` (two small Transformer towers, symmetric InfoNCE with
a learned temperature) on the same captioned digit canvases that trained
`babeldraw_digits` (`examples/train_babeldraw_digits.py`: 20,000 canvases
of train-split digits, held-out combinations never in a caption), over the
token ids of that preset's image tokenizer and the ids of its text
tokenizer. It is saved as its own preset and attached to the Babeldraw
preset, so that `Babeldraw.from_preset("babeldraw_digits")` reranks with
`generate(..., num_candidates=K)`.

    KERAS_BACKEND=jax python examples/train_babeldraw_reranker.py

Prints the caption -> image retrieval accuracy among 100 held-out pairs
(test-split digits, any combination) before and after training;
`examples/evaluate_babeldraw_digits.py --num-candidates 8` measures what
reranking does to the samples.
"""

import argparse
import json
import os
import time

import keras

import keras_vim
from keras_vim.utils.digit_canvases import make_canvases
from keras_vim.utils.preset_evaluation import retrieval_accuracy

RERANKER_CONFIG = dict(
    num_layers=2,
    num_heads=4,
    hidden_dim=128,
    intermediate_dim=256,
    embedding_dim=64,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="presets/babeldraw_digits")
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="presets/babeldraw_digits_reranker")
    parser.add_argument(
        "--babeldraw-output",
        default=None,
        help="where to save the Babeldraw preset with the reranker "
        "attached (default: over --preset)",
    )
    args = parser.parse_args()
    log = {"backend": keras.config.backend(), "args": vars(args)}
    keras.utils.set_random_seed(args.seed)

    babeldraw = keras_vim.Babeldraw.from_preset(args.preset)
    preprocessor = babeldraw.preprocessor
    backbone = keras_vim.BabeldrawRerankerBackbone(
        text_vocabulary_size=babeldraw.backbone.text_vocabulary_size,
        image_vocabulary_size=babeldraw.backbone.image_vocabulary_size,
        grid_size=babeldraw.backbone.grid_size,
        max_text_length=babeldraw.backbone.max_text_length,
        **RERANKER_CONFIG,
    )
    reranker = keras_vim.BabeldrawReranker(backbone, preprocessor)

    # The training canvases of examples/train_babeldraw_digits.py (seed 1).
    images, captions, _ = make_canvases(args.images, "train", "seen", seed=1)
    token_ids = preprocessor.image_tokenizer.encode(images)
    test_images, test_captions, _ = make_canvases(100, "test", "any", seed=4000)
    test_ids = preprocessor.image_tokenizer.encode(test_images)
    log["retrieval_before"] = retrieval_accuracy(
        reranker, test_captions, test_ids
    )

    start = time.time()
    steps = args.epochs * (len(captions) // args.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, steps, warmup_target=1e-3, warmup_steps=steps // 20, alpha=0.05
    )
    reranker.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.01)
    )
    history = reranker.fit(
        captions,
        token_ids,
        batch_size=args.batch_size,
        epochs=args.epochs,
        verbose=2,
    )
    log["seconds"] = round(time.time() - start, 1)
    log["loss"] = [round(v, 4) for v in history.history["loss"]]
    log["retrieval_after"] = retrieval_accuracy(
        reranker, test_captions, test_ids
    )

    reranker.save_to_preset(args.output)
    with open(os.path.join(args.output, "training_log.json"), "w") as f:
        json.dump(log, f, indent=2)
    attached = keras_vim.Babeldraw(
        babeldraw.backbone,
        preprocessor,
        prompt_dropout_rate=babeldraw.prompt_dropout_rate,
        reranker=reranker,
    )
    attached.save_to_preset(args.babeldraw_output or args.preset)
    print(json.dumps(log, indent=2))


if __name__ == "__main__":
    main()
