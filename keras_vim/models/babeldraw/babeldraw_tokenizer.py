import os
import warnings

import keras
import numpy as np
import sentencepiece
from keras_hub.src.utils.preset_utils import CONFIG_FILE
from keras_hub.src.utils.preset_utils import TOKENIZER_CONFIG_FILE
from keras_hub.src.utils.preset_utils import KerasPresetLoader
from keras_hub.tokenizers import SentencePieceTokenizer
from keras_hub.tokenizers import compute_sentence_piece_proto

from keras_vim.models.babeldraw.babeldraw_backbone import BabeldrawBackbone
from keras_vim.utils.preset_utils import load_preset

PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
# Every vocabulary holds <pad> at id 0 (checked in `set_proto`).
PAD_TOKEN_ID = 0


class _ClassOnlyTrain:
    """`train` that trains a new tokenizer when called on the class.

    On an instance `train` is the base class's: under the torch backend a
    Keras layer is a `torch.nn.Module`, and `model.fit` calls
    `module.train(mode)` on every submodule, the tokenizer of a task's
    preprocessor included.
    """

    def __init__(self, function):
        self.function = function
        self.__doc__ = function.__doc__

    def __get__(self, instance, owner):
        if instance is not None:
            base_train = getattr(
                super(BabeldrawTokenizer, instance), "train", None
            )
            if base_train is not None:
                return base_train
        return self.function.__get__(owner, owner)


@keras.saving.register_keras_serializable(package="keras_vim")
class BabeldrawTokenizer(SentencePieceTokenizer):
    """Babeldraw's text tokenizer: SentencePiece, padded to a fixed length.

    The text side of Babeldraw (Stage 2c of the seed, published as Parti,
    Yu et al., 2022): prompts are split into SentencePiece pieces
    (a 16,000-piece vocabulary and 128 tokens in the seed) and padded or
    truncated to `sequence_length`. It is keras-hub's
    `SentencePieceTokenizer` (TensorFlow Text inside `tf.data`, the
    `sentencepiece` package elsewhere) with Babeldraw's conventions:

    - the vocabulary holds `"<pad>"` at id 0 and `"<unk>"`;
      `BabeldrawTokenizer.train()` builds one from a list of texts with
      keras-hub's `compute_sentence_piece_proto`, which reserves
      `<pad>`=0, `<unk>`=1, `<s>`=2 and `</s>`=3;
    - `pad_token_id` (0) pads every prompt, and a row made only of padding
      is the "no prompt" input of classifier-free guidance: the model is
      fine-tuned with prompts randomly replaced by padding, and samples
      with `uncond + lambda * (cond - uncond)`, where `uncond` is the model
      conditioned on padding. That is why an empty prompt is refused: it
      would silently ask for the unconditional model;
    - `tokenize_prompts()` is the checked entry point for user prompts: it
      returns numpy `(token_ids, padding_mask)` and warns when prompts are
      truncated.

    Calling the layer (`tokenizer(texts)`) tokenizes without those checks,
    dense to `sequence_length`, on every backend and inside `tf.data`.

    Args:
        proto: A path to a SentencePiece model file (`.spm`), or its
            serialized `bytes`. `None` only while a preset is being loaded.
            The vocabulary must hold `"<pad>"` at id 0 and `"<unk>"`.
        sequence_length: int. Tokens per prompt; longer prompts are cut,
            shorter ones padded with `pad_token_id`. Defaults to `128`.
        **kwargs: Passed to `keras_hub.tokenizers.SentencePieceTokenizer`
            (`add_bos`, `add_eos`, `dtype`, `name`).

    Example:
    ```python
    captions = [
        "a red 3 in the top left",
        "a blue 7 in the bottom right and a white 0 in the top left",
        "a green 5 in the top right",
    ]
    tokenizer = keras_vim.Tokenizer.train(
        captions, vocabulary_size=30, sequence_length=16
    )
    token_ids, padding_mask = tokenizer.tokenize_prompts(["a red 7"])
    token_ids.shape  # (1, 16), int32; padding positions hold 0
    tokenizer.detokenize(token_ids)  # ["a red 7"]

    tokenizer.save_to_preset("./babeldraw_tokenizer")
    restored = keras_vim.Tokenizer.from_preset("./babeldraw_tokenizer")
    ```
    """

    backbone_cls = BabeldrawBackbone

    def __init__(self, proto=None, sequence_length=128, **kwargs):
        if (
            isinstance(sequence_length, bool)
            or not isinstance(sequence_length, (int, np.integer))
            or sequence_length < 1
        ):
            raise ValueError(
                "`sequence_length` must be a positive int. Received: "
                f"sequence_length={sequence_length!r}"
            )
        self._add_special_token(PAD_TOKEN, "pad_token")
        self._add_special_token(UNK_TOKEN, "unk_token")
        self._prompt_encoder = None
        super().__init__(
            proto=proto, sequence_length=int(sequence_length), **kwargs
        )

    @_ClassOnlyTrain
    def train(
        cls,
        texts,
        vocabulary_size,
        model_type="unigram",
        lowercase=False,
        **kwargs,
    ):
        """Trains a SentencePiece vocabulary on `texts`; returns a tokenizer.

        Uses keras-hub's `compute_sentence_piece_proto`, offline and
        deterministic: the same texts give the same vocabulary, byte for
        byte. Ids 0-3 are `<pad>`, `<unk>`, `<s>` and `</s>`.

        Args:
            texts: list of non-empty strings (captions).
            vocabulary_size: int. Pieces in the vocabulary, special ones
                included. SentencePiece refuses sizes larger than the texts
                can fill or smaller than their distinct characters plus 4;
                the error says which bound was hit.
            model_type: str. `"unigram"` (the default), `"bpe"`, `"word"`
                or `"char"`.
            lowercase: bool. Lowercase text before tokenizing (also when
                tokenizing later: the rule is stored in the vocabulary).
            **kwargs: Passed to the constructor (`sequence_length`, ...).

        Example:
        ```python
        tokenizer = keras_vim.Tokenizer.train(
            [
                "a red 3 in the top left",
                "a blue 7 in the bottom right and a white 0 in the top left",
                "a green 5 in the top right",
            ],
            vocabulary_size=30,
        )
        ```
        """
        texts = _checked_texts(texts, "texts")
        if (
            isinstance(vocabulary_size, bool)
            or not isinstance(vocabulary_size, (int, np.integer))
            or vocabulary_size < 5
        ):
            raise ValueError(
                "`vocabulary_size` must be an int of at least 5 (4 special "
                "pieces and one more). Received: "
                f"vocabulary_size={vocabulary_size!r}"
            )
        # Imported here so that keras_vim imports without TensorFlow.
        import tensorflow as tf

        try:
            proto = compute_sentence_piece_proto(
                tf.data.Dataset.from_tensor_slices(texts),
                vocabulary_size=int(vocabulary_size),
                model_type=model_type,
                lowercase=lowercase,
            )
        except RuntimeError as e:
            raise ValueError(
                f"SentencePiece could not train a vocabulary of "
                f"vocabulary_size={vocabulary_size} on {len(texts)} texts: "
                f"{_last_line(e)}"
            ) from e
        return cls(proto=proto, **kwargs)

    @classmethod
    def from_preset(cls, preset, config_file=TOKENIZER_CONFIG_FILE, **kwargs):
        """Loads a tokenizer from a preset.

        Either a full Babeldraw preset (its `config.json` names a
        `BabeldrawBackbone`), or a folder written by
        `tokenizer.save_to_preset()` alone, which has a `tokenizer.json`
        and the vocabulary but no backbone `config.json`.

        Args:
            preset: a registered preset name or a preset folder.
            config_file: str. The tokenizer config inside the preset.
            **kwargs: Override config entries (`sequence_length`, ...).

        Example:
        ```python
        tokenizer.save_to_preset("./babeldraw_tokenizer")
        tokenizer = keras_vim.Tokenizer.from_preset("./babeldraw_tokenizer")
        ```
        """
        if _is_tokenizer_only_folder(preset, config_file):
            loader = KerasPresetLoader(os.fspath(preset), config=None)
            tokenizer = loader.load_tokenizer(cls, config_file, **kwargs)
            if not isinstance(tokenizer, cls):
                raise ValueError(
                    f"preset={preset!r}: its {config_file} holds a "
                    f"{type(tokenizer).__name__}, not a {cls.__name__}."
                )
            return tokenizer
        return load_preset(
            super().from_preset, preset, config_file=config_file, **kwargs
        )

    def set_proto(self, proto):
        """Sets the vocabulary (a `.spm` path or serialized bytes).

        Raises `ValueError` naming `proto` if it does not load as a
        SentencePiece model holding `"<pad>"` at id 0 and `"<unk>"`; the
        tokenizer then keeps its previous vocabulary.
        """
        previous = self.proto
        try:
            super().set_proto(proto)
            if proto is not None and self.pad_token_id != 0:
                raise ValueError(
                    f"the vocabulary has '{PAD_TOKEN}' at id "
                    f"{self.pad_token_id}; Babeldraw needs it at id 0"
                )
        except ImportError:
            raise
        except Exception as e:
            super().set_proto(previous)
            raise ValueError(
                "`proto` must be a SentencePiece model (a path to a `.spm` "
                "file or its serialized bytes) holding "
                f"'{PAD_TOKEN}' at id 0 and '{UNK_TOKEN}'. Received: "
                f"proto={_describe_proto(proto)}, which failed with "
                f"{type(e).__name__}: {_last_line(e)}"
            ) from e
        self._prompt_encoder = _prompt_encoder(self.proto)

    def tokenize_prompts(self, prompts):
        """Token ids and padding mask of a batch of prompts, as numpy.

        The checked entry point for prompts from users: each prompt is
        tokenized, cut to `sequence_length` (with a warning that says how
        many prompts were cut) and padded with `pad_token_id`. The ids are
        those the layer itself returns for the same prompts.

        Args:
            prompts: a string, or a list, tuple or 1D array of non-empty
                strings (`bytes` are read as UTF-8).

        Returns:
            `(token_ids, padding_mask)`: `(batch, sequence_length)` int32
            ids, and a bool mask that is `True` on real tokens.

        Example:
        ```python
        token_ids, padding_mask = tokenizer.tokenize_prompts(
            ["a red 3 in the top left", "a blue 7 in the bottom right"]
        )
        ```
        """
        self._check_vocabulary()
        prompts = _checked_texts(prompts, "prompts", _EMPTY_PROMPT_HINT)
        encoded = self._prompt_encoder.Encode(
            prompts, add_bos=self.add_bos, add_eos=self.add_eos
        )
        for i, ids in enumerate(encoded):
            if not ids:
                raise ValueError(
                    f"`prompts` must hold prompts with at least one token. "
                    f"Received: prompts[{i}]={prompts[i]!r}, which has "
                    f"none.{_EMPTY_PROMPT_HINT}"
                )
        length = self.sequence_length
        lengths = np.array([len(ids) for ids in encoded])
        num_truncated = int(np.sum(lengths > length))
        if num_truncated:
            warnings.warn(
                f"{num_truncated} of {len(prompts)} prompts were longer than "
                f"sequence_length={length} tokens and were truncated to "
                f"{length} (the longest had {lengths.max()} tokens).",
                stacklevel=2,
            )
        token_ids = np.full((len(prompts), length), self.pad_token_id, "int32")
        for row, ids in zip(token_ids, encoded):
            ids = ids[:length]
            row[: len(ids)] = ids
        padding_mask = np.arange(length)[None, :] < lengths[:, None]
        return token_ids, padding_mask


_EMPTY_PROMPT_HINT = (
    " An empty prompt would be the all-padding row that classifier-free "
    "guidance reserves for its unconditional (no prompt) branch."
)


def _checked_texts(texts, name, empty_hint=""):
    """`texts` as a list of non-empty Python strings, or a `ValueError`."""
    if isinstance(texts, (str, bytes)):
        texts = [texts]
    elif isinstance(texts, np.ndarray):
        if texts.ndim != 1:
            raise ValueError(
                f"`{name}` must be a 1D array of strings. Received: "
                f"{name}.shape={texts.shape}"
            )
        texts = texts.tolist()
    elif not isinstance(texts, (list, tuple)):
        raise ValueError(
            f"`{name}` must be a string or a list of strings. Received: "
            f"{name}={texts!r} of type {type(texts).__name__}"
        )
    if not texts:
        raise ValueError(
            f"`{name}` must hold at least one string. Received: {name}="
            f"{texts!r}"
        )
    checked = []
    for i, text in enumerate(texts):
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        if not isinstance(text, str):
            raise ValueError(
                f"`{name}` must hold only strings. Received: {name}[{i}]="
                f"{text!r} of type {type(text).__name__}"
            )
        if not text.strip():
            raise ValueError(
                f"`{name}` must hold non-empty strings. Received: "
                f"{name}[{i}]={text!r}.{empty_hint}"
            )
        checked.append(text)
    return checked


def _is_tokenizer_only_folder(preset, config_file):
    if not isinstance(preset, (str, os.PathLike)):
        return False
    folder = os.fspath(preset)
    return (
        os.path.isdir(folder)
        and not os.path.isfile(os.path.join(folder, CONFIG_FILE))
        and os.path.isfile(os.path.join(folder, config_file))
    )


def _prompt_encoder(proto):
    """A `sentencepiece` processor for `proto`, to see untruncated lengths."""
    if proto is None:
        return None
    encoder = sentencepiece.SentencePieceProcessor()
    encoder.LoadFromSerializedProto(proto)
    return encoder


def _describe_proto(proto):
    if isinstance(proto, bytes):
        return f"<{len(proto)} bytes: {proto[:16]!r}...>"
    if isinstance(proto, str) and len(proto) > 200:
        return f"<string of {len(proto)} characters>"
    return repr(proto)


def _last_line(error):
    """The informative end of an error message (SentencePiece's are long)."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(error).__name__
