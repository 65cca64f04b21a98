"""The default model on ONNX Runtime: the export at set-up, and the encoder that serves it.

ONNX Runtime needs neither torch nor sentence-transformers at run time, so a web
worker starts fast and stays small (see :class:`OnnxEmbedder`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .model_files import (
    ONNX_FILE,
    ONNX_INT8_FILE,
    SANITY_NEAR,
    SANITY_QUERY,
    SPM_FILE,
    WORD_EMBEDDINGS_FILE,
    WORD_EMBEDDINGS_INPUT,
    ModelSetupError,
    dequantise_q4,
)


def export_onnx(folder: Path) -> None:
    """Export encoder + mean pooling + normalisation as one ONNX graph (fp32 and int8).

    Eager attention keeps padded batches exact (SDPA exports drifted when padded).
    """
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(str(folder))

    class Pooled(torch.nn.Module):
        def __init__(self, m: torch.nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            h = self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    sample = tok([SANITY_QUERY, SANITY_NEAR + "，再长一点"], padding=True, return_tensors="pt")
    (folder / "onnx").mkdir(exist_ok=True)
    tmp = folder / "onnx" / "export.onnx"
    with torch.no_grad():
        torch.onnx.export(Pooled(model), (sample["input_ids"], sample["attention_mask"]), str(tmp),
                          input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}},
                          opset_version=17, dynamo=False)
    quantize_dynamic(str(tmp), str(folder / ONNX_INT8_FILE), weight_type=QuantType.QInt8)
    _take_word_embeddings_as_input(tmp, folder / ONNX_FILE)
    tmp.unlink()


def _take_word_embeddings_as_input(src: Path, dst: Path) -> None:
    """Cut the word-embedding lookup out of the graph: its output becomes an input."""
    import onnx

    model = onnx.load(str(src))
    graph = model.graph
    table = "m.embeddings.word_embeddings.weight"
    lookup = next(n for n in graph.node if n.op_type == "Gather" and n.input[0] == table)
    graph.node.remove(lookup)
    graph.initializer.remove(next(i for i in graph.initializer if i.name == table))
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name == lookup.output[0]:
                node.input[k] = WORD_EMBEDDINGS_INPUT
    graph.input.append(onnx.helper.make_tensor_value_info(
        WORD_EMBEDDINGS_INPUT, onnx.TensorProto.FLOAT, ["batch", "tokens", 384]))
    onnx.save_model(model, str(dst))


def verify_onnx(folder: Path) -> None:
    """The fp32 graph must match sentence-transformers, padded batches included."""
    from sentence_transformers import SentenceTransformer

    texts = ["密码忘了怎么办", "帳號被盜怎麼辦，我的账号好像被别人登录了，怎么办才好", "refund"]
    ref = SentenceTransformer(str(folder), device="cpu").encode(
        ["query: " + t for t in texts], normalize_embeddings=True)
    got = OnnxEmbedder(folder, "fp32").encode(texts, "query")
    worst = float((ref * got).sum(1).min())
    if worst < 0.9999:
        raise ModelSetupError(f"ONNX export disagrees with the model (cosine {worst:.5f}); delete {folder} and retry")


class OnnxEmbedder:
    """The default model through ONNX Runtime: same vectors as torch, about twice as fast.

    Needs neither torch nor sentence-transformers at run time, so the site starts
    in a fraction of the time. ``precision="int8"`` uses the dynamically quantised
    graph (faster still, slightly different vectors, so its own model identity).
    """

    def __init__(self, folder: Path, precision: str = "fp32", threads: int = 0) -> None:
        import onnxruntime as ort
        import sentencepiece

        self.dim = 384
        self.name = ""
        self._tok = sentencepiece.SentencePieceProcessor(model_file=str(folder / SPM_FILE))
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            # Busy-waiting workers only pay off when one encode owns the cores.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        model_file = folder / (ONNX_INT8_FILE if precision == "int8" else ONNX_FILE)
        self._session = ort.InferenceSession(str(model_file), opts, providers=["CPUExecutionProvider"])
        # fp32 graph: we look up the word-embedding rows (see default_model).
        self._word_rows = np.load(folder / WORD_EMBEDDINGS_FILE) if precision == "fp32" else None
        self._prompts = {"query": "query: ", "passage": "passage: "}

    def token_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """<s> pieces </s>, cut to the model's 512 positions, padded: (ids, mask).

        SentencePiece collapses runs of whitespace; stripping the ends as well makes
        its ids those of tokenizer.json for any text.
        """
        pieces = self._tok.encode([t.strip() for t in texts])
        rows = [[0, *p[:510], 2] for p in pieces]
        width = max(len(r) for r in rows)
        ids = np.ones((len(rows), width), dtype=np.int64)  # 1 = <pad>
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        return ids, mask

    def encode(self, texts: Sequence[str], role: str, batch_size: int = 32,
               progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        prompt = self._prompts.get(role, "")
        # Similar lengths together: less padding per batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = range(0, len(order), batch_size)
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc="embedding", unit="batch")
        for start in batches:
            rows = order[start : start + batch_size]
            ids, mask = self.token_ids([prompt + texts[i] for i in rows])
            feed = {"input_ids": ids, "attention_mask": mask}
            if self._word_rows is not None:
                feed[WORD_EMBEDDINGS_INPUT] = dequantise_q4(self._word_rows[ids])
            out[rows] = self._session.run(None, feed)[0]
        return out
