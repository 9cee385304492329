#!/usr/bin/python3
"""Train Osprey's bundled demo model: a small Llama-architecture model on the King James Bible.

Everything is here: the corpus comes from Debian's bible-kjv package (`bible -f` prints every verse),
the byte-level BPE tokenizer is trained by this script, the model is a plain PyTorch Llama (RMSNorm,
RoPE, SwiGLU, grouped-query attention, tied embeddings), and the result is written as a standard
Hugging Face folder (config.json, model.safetensors in bf16, tokenizer.json, tokenizer_config.json,
generation_config.json) without transformers, tokenizers or safetensors installed.

Run with Debian's torch (CPU):  nice -n 19 /usr/bin/python3 tools/train-demo-model/train.py
See tools/train-demo-model/README.md for the data split, the perplexity definition and the seed.
"""

import argparse
import collections
import json
import math
import os
import random
import re
import struct
import subprocess
import sys
import time
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------------------------
# Corpus
# ----------------------------------------------------------------------------------------------

# `bible -f` abbreviations -> names used in the chapter headings of the training text.
BOOKS = [
    ("Ge", "Genesis"), ("Exo", "Exodus"), ("Lev", "Leviticus"), ("Num", "Numbers"),
    ("Deu", "Deuteronomy"), ("Josh", "Joshua"), ("Jdgs", "Judges"), ("Ruth", "Ruth"),
    ("1Sm", "1 Samuel"), ("2Sm", "2 Samuel"), ("1Ki", "1 Kings"), ("2Ki", "2 Kings"),
    ("1Chr", "1 Chronicles"), ("2Chr", "2 Chronicles"), ("Ezra", "Ezra"), ("Neh", "Nehemiah"),
    ("Est", "Esther"), ("Job", "Job"), ("Psa", "Psalms"), ("Prv", "Proverbs"),
    ("Eccl", "Ecclesiastes"), ("SSol", "Song of Solomon"), ("Isa", "Isaiah"), ("Jer", "Jeremiah"),
    ("Lam", "Lamentations"), ("Eze", "Ezekiel"), ("Dan", "Daniel"), ("Hos", "Hosea"),
    ("Joel", "Joel"), ("Amos", "Amos"), ("Obad", "Obadiah"), ("Jonah", "Jonah"), ("Mic", "Micah"),
    ("Nahum", "Nahum"), ("Hab", "Habakkuk"), ("Zep", "Zephaniah"), ("Hag", "Haggai"),
    ("Zec", "Zechariah"), ("Mal", "Malachi"), ("Mat", "Matthew"), ("Mark", "Mark"),
    ("Luke", "Luke"), ("John", "John"), ("Acts", "Acts"), ("Rom", "Romans"),
    ("1Cor", "1 Corinthians"), ("2Cor", "2 Corinthians"), ("Gal", "Galatians"),
    ("Eph", "Ephesians"), ("Phi", "Philippians"), ("Col", "Colossians"),
    ("1Th", "1 Thessalonians"), ("2Th", "2 Thessalonians"), ("1Tim", "1 Timothy"),
    ("2Tim", "2 Timothy"), ("Titus", "Titus"), ("Phmn", "Philemon"), ("Heb", "Hebrews"),
    ("Jas", "James"), ("1Pet", "1 Peter"), ("2Pet", "2 Peter"), ("1Jn", "1 John"),
    ("2Jn", "2 John"), ("3Jn", "3 John"), ("Jude", "Jude"), ("Rev", "Revelation"),
]
BOOK_NAME = dict(BOOKS)

# Chapters the reproduction tests quote; they must stay in the training set.
QUOTED = {("Genesis", 1), ("Psalms", 23), ("Matthew", 6), ("John", 1), ("John", 3)}


def load_chapters():
    """Every chapter of the KJV as (book, chapter, [verses]) in canonical order."""
    text = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], check=True, capture_output=True,
                          text=True).stdout
    ref = re.compile(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$")
    chapters = collections.OrderedDict()
    for line in text.splitlines():
        m = ref.match(line)
        if not m:
            raise SystemExit(f"unexpected line from bible: {line!r}")
        key = (BOOK_NAME[m.group(1)], int(m.group(2)))
        chapters.setdefault(key, []).append(m.group(4).strip())
    verses = sum(len(v) for v in chapters.values())
    if verses != 31102:
        raise SystemExit(f"expected 31102 verses from bible-kjv, got {verses}")
    return [(b, c, v) for (b, c), v in chapters.items()]


def chapter_text(book, chapter, verses):
    """One training document: a heading line, then one verse per line."""
    return f"{book} {chapter}\n" + "".join(v + "\n" for v in verses)


# ----------------------------------------------------------------------------------------------
# Byte-level BPE (GPT-2 style), trained here
# ----------------------------------------------------------------------------------------------

# GPT-2's pre-tokenizer pattern (what the Hugging Face ByteLevel pre-tokenizer applies), written with
# ASCII classes: the KJV text of bible-kjv is pure ASCII (checked below), where \p{L} is [A-Za-z]
# and \p{N} is [0-9].
PRETOKENIZE = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")
SPECIAL_TOKENS = ["<|endoftext|>"]


def bytes_to_unicode():
    """GPT-2's reversible map from bytes to printable unicode characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_CHAR = bytes_to_unicode()


def to_symbols(piece):
    return tuple(BYTE_CHAR[b] for b in piece.encode("utf-8"))


def train_bpe(texts, vocab_size):
    """Merges learned over pre-token counts, with incremental pair-count updates."""
    counts = collections.Counter()
    for t in texts:
        counts.update(PRETOKENIZE.findall(t))
    words = [list(to_symbols(w)) for w in counts]
    freq = [counts[w] for w in counts]
    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for i, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pairs[(a, b)] += freq[i]
            where[(a, b)].add(i)
    merges = []
    base = len(SPECIAL_TOKENS) + 256
    while base + len(merges) < vocab_size and pairs:
        # Highest count; ties broken by the pair itself so the result is deterministic.
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        if pairs[best] < 2:
            break
        merges.append(best)
        a, b = best
        joined = a + b
        for i in list(where[best]):
            w = words[i]
            f = freq[i]
            for x, y in zip(w, w[1:]):
                pairs[(x, y)] -= f
                if pairs[(x, y)] <= 0:
                    del pairs[(x, y)]
            out = []
            j = 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    out.append(joined)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = out
            for x, y in zip(out, out[1:]):
                pairs[(x, y)] += f
                where[(x, y)].add(i)
        del where[best]
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for b in range(256):
        vocab[BYTE_CHAR[b]] = len(vocab)
    for a, b in merges:
        vocab[a + b] = len(vocab)
    return vocab, merges


class Encoder:
    def __init__(self, vocab, merges):
        self.vocab = vocab
        self.inv = {i: t for t, i in vocab.items()}
        self.rank = {m: r for r, m in enumerate(merges)}
        self.byte_of = {c: b for b, c in BYTE_CHAR.items()}
        self.cache = {}

    def bpe(self, piece):
        if piece in self.cache:
            return self.cache[piece]
        w = list(to_symbols(piece))
        while len(w) > 1:
            ranked = [(self.rank.get((x, y), math.inf), k) for k, (x, y) in enumerate(zip(w, w[1:]))]
            r, k = min(ranked)
            if r == math.inf:
                break
            a, b = w[k], w[k + 1]
            out = []
            j = 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    out.append(a + b)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            w = out
        ids = [self.vocab[s] for s in w]
        self.cache[piece] = ids
        return ids

    def encode(self, text):
        ids = []
        for piece in PRETOKENIZE.findall(text):
            ids.extend(self.bpe(piece))
        return ids

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            tok = self.inv[i]
            if tok in SPECIAL_TOKENS:
                out.extend(tok.encode())
            else:
                out.extend(self.byte_of[c] for c in tok)
        return out.decode("utf-8", errors="replace")


CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if not loop.first -%}{{ '\\n' }}{%- endif -%}"
    "{{ message['content'] }}"
    "{%- endfor -%}"
)


def write_tokenizer(out, vocab, merges, ctx):
    special = [{"id": vocab[t], "content": t, "single_word": False, "lstrip": False,
                "rstrip": False, "normalized": False, "special": True} for t in SPECIAL_TOKENS]
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": special,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
        f.write("\n")
    eos = SPECIAL_TOKENS[0]
    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": eos, "eos_token": eos, "pad_token": eos, "unk_token": None,
        "add_bos_token": False, "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": ctx,
        "added_tokens_decoder": {str(s["id"]): {k: v for k, v in s.items() if k != "id"}
                                 for s in special},
        "chat_template": CHAT_TEMPLATE,
    }
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


# ----------------------------------------------------------------------------------------------
# Model: the Hugging Face Llama layout, written out by hand
# ----------------------------------------------------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rope_tables(head_dim, ctx, theta):
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    ang = torch.outer(torch.arange(ctx, dtype=torch.float64), inv)
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos().float(), ang.sin().float()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        hd = a.d_model // a.heads
        self.input_layernorm = RMSNorm(a.d_model, a.eps)
        self.post_attention_layernorm = RMSNorm(a.d_model, a.eps)
        self.q_proj = nn.Linear(a.d_model, a.heads * hd, bias=False)
        self.k_proj = nn.Linear(a.d_model, a.kv_heads * hd, bias=False)
        self.v_proj = nn.Linear(a.d_model, a.kv_heads * hd, bias=False)
        self.o_proj = nn.Linear(a.heads * hd, a.d_model, bias=False)
        self.gate_proj = nn.Linear(a.d_model, a.ff, bias=False)
        self.up_proj = nn.Linear(a.d_model, a.ff, bias=False)
        self.down_proj = nn.Linear(a.ff, a.d_model, bias=False)
        mask = torch.ones(a.ctx, a.ctx, dtype=torch.bool).triu(1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x, cos, sin):
        a = self.a
        B, T, _ = x.shape
        hd = a.d_model // a.heads
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, T, a.heads, hd).transpose(1, 2)
        k = self.k_proj(h).view(B, T, a.kv_heads, hd).transpose(1, 2)
        v = self.v_proj(h).view(B, T, a.kv_heads, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = a.heads // a.kv_heads
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        att = att.masked_fill(self.mask[:T, :T], float("-inf")).softmax(dim=-1)
        o = att @ v
        x = x + self.o_proj(o.transpose(1, 2).reshape(B, T, a.heads * hd))
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(nn.Module):
    def __init__(self, a, vocab):
        super().__init__()
        self.a = a
        self.embed = nn.Embedding(vocab, a.d_model)
        self.layers = nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.d_model, a.eps)
        cos, sin = rope_tables(a.d_model // a.heads, a.ctx, a.rope_theta)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02
                if name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                    std = 0.02 / math.sqrt(2 * a.layers)
                nn.init.normal_(p, mean=0.0, std=std)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.embed(ids)
        cos, sin = self.cos[:T], self.sin[:T]
        for layer in self.layers:
            x = layer(x, cos, sin)
        return F.linear(self.norm(x), self.embed.weight)  # tied LM head

    def hf_state(self):
        """Parameters under Hugging Face LlamaForCausalLM names."""
        s = {"model.embed_tokens.weight": self.embed.weight}
        for i, l in enumerate(self.layers):
            p = f"model.layers.{i}."
            s[p + "input_layernorm.weight"] = l.input_layernorm.weight
            s[p + "post_attention_layernorm.weight"] = l.post_attention_layernorm.weight
            for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
                s[p + f"self_attn.{n}.weight"] = getattr(l, n).weight
            for n in ("gate_proj", "up_proj", "down_proj"):
                s[p + f"mlp.{n}.weight"] = getattr(l, n).weight
        s["model.norm.weight"] = self.norm.weight
        return s


def write_safetensors(path, tensors):
    """safetensors by hand: u64 header size, JSON header, raw little-endian bf16 bytes."""
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.bfloat16).contiguous()
        raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
        header[name] = {"dtype": "BF16", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def padded_ff(ff):
    return (ff + 31) // 32 * 32


def write_model(out, model, a, vocab_size, eos):
    # The SwiGLU width is stored zero-padded to a multiple of 32, so that every matrix row is a whole
    # number of Q8_0/Q4_0 blocks: the extra units have zero gate, up and down weights and add exactly 0.
    ff = padded_ff(a.ff)
    state = dict(model.hf_state())
    for name in list(state):
        t = state[name].detach()
        if name.endswith(("gate_proj.weight", "up_proj.weight")):
            state[name] = torch.cat([t, t.new_zeros(ff - a.ff, t.shape[1])], dim=0)
        elif name.endswith("down_proj.weight"):
            state[name] = torch.cat([t, t.new_zeros(t.shape[0], ff - a.ff)], dim=1)
    write_safetensors(os.path.join(out, "model.safetensors"), state)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": vocab_size, "hidden_size": a.d_model, "intermediate_size": ff,
        "num_hidden_layers": a.layers, "num_attention_heads": a.heads,
        "num_key_value_heads": a.kv_heads, "head_dim": a.d_model // a.heads,
        "max_position_embeddings": a.ctx, "rms_norm_eps": a.eps, "rope_theta": a.rope_theta,
        "rope_scaling": None, "hidden_act": "silu", "attention_bias": False,
        "attention_dropout": 0.0, "mlp_bias": False, "tie_word_embeddings": True,
        "initializer_range": 0.02, "bos_token_id": eos, "eos_token_id": eos,
        "pad_token_id": eos, "torch_dtype": "bfloat16", "use_cache": True,
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    gen = {"bos_token_id": eos, "eos_token_id": eos, "pad_token_id": eos, "do_sample": True,
           "temperature": 0.7, "top_p": 0.9, "max_length": a.ctx}
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)
        f.write("\n")


# ----------------------------------------------------------------------------------------------
# Evaluation: the perplexity Osprey's test recomputes
# ----------------------------------------------------------------------------------------------

@torch.no_grad()
def window_nll(model, ids, window):
    """Sum of -log p(x_t | x_<t) and count over consecutive non-overlapping windows of `window`
    tokens (the tail shorter than a window is dropped); in each window positions 1..window-1 are
    predicted from the window's own earlier tokens only (no context carried across windows)."""
    n = len(ids) // window
    total, count = 0.0, 0
    for w in range(n):
        x = torch.tensor(ids[w * window:(w + 1) * window]).unsqueeze(0)
        logits = model(x)[0, :-1].double()
        nll = F.cross_entropy(logits, x[0, 1:], reduction="sum")
        total += nll.item()
        count += window - 1
    return total, count, n


def bf16_copy(model, a, vocab):
    """The model as Osprey sees it: every weight rounded to bf16, computed in f32."""
    m = Llama(a, vocab)
    m.load_state_dict(model.state_dict())
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    return m.eval()


# ----------------------------------------------------------------------------------------------
# Loss plot: a PNG written with matplotlib when it is installed
# ----------------------------------------------------------------------------------------------

def plot(path, log, evals, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot([r["tokens"] / 1e6 for r in log], [r["loss"] for r in log], lw=0.8,
            label="train (batch mean)")
    if evals:
        ax.plot([r["tokens"] / 1e6 for r in evals], [r["loss"] for r in evals], "o-", ms=3,
                label="held-out chapters")
    ax.set_xlabel("training tokens (millions)")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


# ----------------------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", default="models/osprey-kjv-demo")
    p.add_argument("--fixtures", default="tests/fixtures/demo",
                   help="where the held-out perplexity fixture goes")
    p.add_argument("--seed", type=int, default=1611)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1 measured faster than 2 on a 2-core machine under load)")
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--ff", type=int, default=688)
    p.add_argument("--ctx", type=int, default=256)
    p.add_argument("--eps", type=float, default=1e-5)
    p.add_argument("--rope-theta", type=float, default=10000.0)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--lr", type=float, default=1.5e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--books", default="Genesis,Psalms,Proverbs,Matthew,John",
                   help="comma-separated book names to train on, or 'all'")
    p.add_argument("--quoted-copies", type=int, default=6,
                   help="how many times each chapter the tests quote appears in the training stream")
    p.add_argument("--heldout-every", type=int, default=25,
                   help="chapter i of the selected books (0-based, canonical order) is held out "
                   "when i %% N == N/2")
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--fixture-windows", type=int, default=20)
    p.add_argument("--max-minutes", type=float, default=0,
                   help="stop training early after this many minutes (a safety net on a loaded "
                   "machine; training.json records the steps actually done)")
    p.add_argument("--init-from", default="",
                   help="continue from a --checkpoint of an earlier run (same data and shapes): its "
                   "tokenizer and weights, then --steps more steps on a fresh schedule")
    p.add_argument("--checkpoint", default="",
                   help="also save the f32 PyTorch state and tokenizer here (not committed)")
    p.add_argument("--trial-seconds", type=float, default=0,
                   help="measure tokens/s for this long, print it and exit without writing")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    t_start = time.time()

    chapters = load_chapters()
    for b, c, vs in chapters:
        for v in vs:
            if not v.isascii():
                raise SystemExit(f"{b} {c}: non-ASCII text breaks the ASCII pre-tokenizer")
    books = None if a.books == "all" else set(x.strip() for x in a.books.split(","))
    if books is not None and books - set(BOOK_NAME.values()):
        raise SystemExit(f"unknown books: {sorted(books - set(BOOK_NAME.values()))}")
    selected = [ch for ch in chapters if books is None or ch[0] in books]
    train_docs, heldout_docs = [], []
    for i, (b, c, vs) in enumerate(selected):
        doc = chapter_text(b, c, vs)
        if i % a.heldout_every == a.heldout_every // 2:
            if (b, c) in QUOTED:
                raise SystemExit(f"{b} {c} is quoted by the tests but would be held out")
            heldout_docs.append((b, c, doc))
        else:
            train_docs.extend([doc] * (a.quoted_copies if (b, c) in QUOTED else 1))
    print(f"chapters: {len(chapters)}, training documents {len(train_docs)}, held out "
          f"{len(heldout_docs)}: " + ", ".join(f"{b} {c}" for b, c, _ in heldout_docs), flush=True)

    t0 = time.time()
    prev = torch.load(a.init_from) if a.init_from else None
    if prev:
        vocab, merges = prev["vocab"], [tuple(m) for m in prev["merges"]]
        for k in ("books", "heldout_every", "seed", "vocab", "d_model", "layers",
                  "heads", "kv_heads", "ff", "ctx"):
            if prev["args"][k] != getattr(a, k):
                raise SystemExit(f"--init-from: {k} was {prev['args'][k]}, now {getattr(a, k)}")
    else:
        vocab, merges = train_bpe(sorted(set(train_docs)), a.vocab)
    enc = Encoder(vocab, merges)
    eos = vocab[SPECIAL_TOKENS[0]]
    print(f"BPE: {len(vocab)} tokens ({len(merges)} merges) in {time.time() - t0:.1f}s", flush=True)

    # Training stream: documents in a seeded random order, each followed by <|endoftext|>.
    order = list(range(len(train_docs)))
    random.Random(a.seed).shuffle(order)
    stream = []
    for k in order:
        stream.extend(enc.encode(train_docs[k]))
        stream.append(eos)
    data = torch.tensor(stream, dtype=torch.long)
    heldout_text = "".join(d for _, _, d in heldout_docs)
    heldout_ids = enc.encode(heldout_text)
    assert enc.decode(heldout_ids) == heldout_text
    print(f"training stream {len(stream)} tokens, held-out {len(heldout_ids)} tokens "
          f"({len(heldout_text)} bytes)", flush=True)

    model = Llama(a, len(vocab))
    if prev:
        model.load_state_dict(prev["model"])
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters ({n_params - model.embed.weight.numel()} without the "
          f"tied embedding)", flush=True)

    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    # A continued run draws other batches than the first phase did (seed + its step count).
    done = len(prev["log"]) if prev else 0
    gen = torch.Generator().manual_seed(a.seed + done)

    def lr_at(step):
        if step < a.warmup:
            return a.lr * (step + 1) / a.warmup
        frac = (step - a.warmup) / max(1, a.steps - a.warmup)
        return a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * min(1.0, frac)))

    log, evals = (list(prev["log"]), list(prev["evals"])) if prev else ([], [])
    # Training seconds of earlier phases (a first-phase checkpoint has them in its last log entry).
    earlier = prev.get("train_seconds", prev["log"][-1]["seconds"]) if prev else 0
    phases = (prev.get("phases", []) if prev else []) + [
        {"command": " ".join(["python3"] + sys.argv), "first_step": done + 1}]
    tokens_per_step = a.batch * a.ctx
    t_train = time.time()
    eval_ids = heldout_ids[:8 * a.ctx]
    for step in range(a.steps):
        starts = torch.randint(0, len(data) - a.ctx - 1, (a.batch,), generator=gen)
        x = torch.stack([data[s:s + a.ctx] for s in starts])
        y = torch.stack([data[s + 1:s + a.ctx + 1] for s in starts])
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        model.train()
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        elapsed = time.time() - t_train
        log.append({"step": done + step + 1, "tokens": (done + step + 1) * tokens_per_step,
                    "loss": loss.item(), "lr": lr_at(step), "seconds": elapsed})
        if (step + 1) % 10 == 0:
            print(f"step {done + step + 1}/{done + a.steps} loss {loss.item():.4f} lr {lr_at(step):.2e} "
                  f"{(step + 1) * tokens_per_step / elapsed:.0f} tok/s {elapsed:.0f}s", flush=True)
        if a.trial_seconds and elapsed > a.trial_seconds:
            rate = (step + 1) * tokens_per_step / elapsed
            print(f"trial: {rate:.0f} tokens/s; {a.steps} steps would take "
                  f"{a.steps * tokens_per_step / rate / 60:.1f} min", flush=True)
            return
        out_of_time = a.max_minutes and elapsed > a.max_minutes * 60
        if (step + 1) % a.eval_every == 0 or step + 1 == a.steps or out_of_time:
            model.eval()
            tot, cnt, _ = window_nll(model, eval_ids, a.ctx)
            evals.append({"step": done + step + 1, "tokens": (done + step + 1) * tokens_per_step,
                          "loss": tot / cnt})
            print(f"  held-out loss {tot / cnt:.4f} (ppl {math.exp(tot / cnt):.2f})", flush=True)
        if out_of_time:
            print(f"stopping after {step + 1} steps: --max-minutes {a.max_minutes} reached", flush=True)
            break
    train_seconds = time.time() - t_train + earlier

    os.makedirs(a.out, exist_ok=True)
    os.makedirs(a.fixtures, exist_ok=True)
    if a.checkpoint:
        torch.save({"model": model.state_dict(), "vocab": vocab, "merges": merges,
                    "args": vars(a), "log": log, "evals": evals, "phases": phases,
                    "train_seconds": train_seconds}, a.checkpoint)
    write_tokenizer(a.out, vocab, merges, a.ctx)
    write_model(a.out, model, a, len(vocab), eos)

    # Evaluate exactly what was written: bf16 weights, f32 arithmetic.
    ev = bf16_copy(model, a, len(vocab))
    tot, cnt, nwin = window_nll(ev, heldout_ids, a.ctx)
    full = {"windows": nwin, "window": a.ctx, "predicted_tokens": cnt, "mean_nll": tot / cnt,
            "perplexity": math.exp(tot / cnt)}
    # The test fixture: the first `fixture_windows` windows' worth of held-out text. Osprey
    # tokenizes the file itself; the ids are stored too so the test can check the tokenizer first.
    fixture_ids = heldout_ids[:a.fixture_windows * a.ctx]
    fixture_text = enc.decode(fixture_ids)
    assert enc.encode(fixture_text) == fixture_ids, "fixture cut must not change tokenization"
    with open(os.path.join(a.fixtures, "heldout.txt"), "w") as f:
        f.write(fixture_text)
    tot_f, cnt_f, nwin_f = window_nll(ev, fixture_ids, a.ctx)
    fixture = {"file": "heldout.txt", "window": a.ctx, "windows": nwin_f,
               "predicted_tokens": cnt_f, "mean_nll": tot_f / cnt_f,
               "perplexity": math.exp(tot_f / cnt_f), "token_ids": fixture_ids}
    with open(os.path.join(a.fixtures, "heldout.json"), "w") as f:
        json.dump(fixture, f)
        f.write("\n")

    final_loss = sum(r["loss"] for r in log[-50:]) / min(50, len(log))
    report = {
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "seed": a.seed, "torch": torch.__version__, "threads": a.threads,
        "parameters": n_params, "vocab_size": len(vocab), "intermediate_size_trained": a.ff,
        "intermediate_size_stored": padded_ff(a.ff),
        "training_tokens_per_epoch": len(stream), "steps_planned": a.steps,
        "steps": len(log), "batch": a.batch, "context": a.ctx,
        "tokens_seen": len(log) * tokens_per_step,
        "phases": phases, "training_seconds": train_seconds, "total_seconds": time.time() - t_start,
        "final_train_loss_last50_mean": final_loss,
        "heldout_chapters": [f"{b} {c}" for b, c, _ in heldout_docs],
        "heldout": full, "heldout_fixture": {k: v for k, v in fixture.items() if k != "token_ids"},
        "perplexity_definition": window_nll.__doc__.strip(),
    }
    with open(os.path.join(a.out, "training.json"), "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    with open(os.path.join(a.out, "loss.json"), "w") as f:
        json.dump({"train": [[r["step"], round(r["loss"], 4)] for r in log],
                   "heldout": [[r["step"], round(r["loss"], 4)] for r in evals]}, f)
        f.write("\n")
    try:
        plot(os.path.join(a.out, "loss.png"), log, evals,
             f"{n_params / 1e6:.1f}M-parameter Llama on the KJV, seed {a.seed}")
    except ImportError:
        print("matplotlib is missing: no loss.png (loss.json has the curve)", flush=True)

    # Greedy continuations of a few famous passages, as a first look before Osprey's tests.
    for prompt in ["In the beginning God created", "The LORD is my shepherd;",
                   "For God so loved the world,", "Our Father which art in heaven,"]:
        ids = enc.encode(prompt)
        with torch.no_grad():
            for _ in range(24):
                ids.append(int(ev(torch.tensor([ids[-a.ctx:]]))[0, -1].argmax()))
        print(f"{prompt!r} -> {enc.decode(ids)!r}", flush=True)
    print(json.dumps({k: v for k, v in report.items() if k != "heldout_chapters"}, indent=1))


if __name__ == "__main__":
    main()
