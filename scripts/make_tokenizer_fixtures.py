#!/usr/bin/env python3
"""Generate tokenizer fixtures for the Swift tokenizer tests.

Run ``python3 scripts/make_tokenizer_fixtures.py`` to regenerate everything in
``Tests/TokenizersTests/Fixtures/``.  The script needs only the Python
``tokenizers`` package (the Rust library behind ``transformers``); it builds a
training corpus in memory, trains a handful of small BPE tokenizers covering
the components used by Llama 3, Qwen2, GPT-2 and Llama 2 style
``tokenizer.json`` files, and records how the library encodes and decodes a
shared set of hard strings.

Files written
-------------
* ``<name>.json``            -- the tokenizer, as written by ``Tokenizer.save``
                               (``gpt2_style_merges_as_strings.json`` is the same
                               tokenizer with its merges rewritten as "a b"
                               strings, the pre-0.20 form).
* ``cases.json``             -- the list of input strings (shared by all).
* ``<name>.expected.json``   -- one object per case, same order:
      ids             encode(text).ids  (add_special_tokens=True)
      tokens          encode(text).tokens (the matched text for added tokens)
      ids_no_special  encode(text, add_special_tokens=False).ids
      decoded         decode(ids, skip_special_tokens=False)
      decoded_skip    decode(ids, skip_special_tokens=True)
      decoded_each    [decode([id], skip_special_tokens=False) for id in ids]
* ``manifest.json``          -- tokenizer file -> expected file, vocab sizes, and
                               the library version used.
* ``README.md``              -- what each tokenizer covers and the library
                               behaviour an implementation has to reproduce.

Determinism: the corpus comes from a seeded ``random.Random``; the BPE
trainer of the library is deterministic for plain BPE (checked by running the
script twice and comparing bytes), but not with ``continuing_subword_prefix``
/ ``end_of_word_suffix`` (the ids of the "##x" / "x</w>" symbols follow hash
map order and merge ties are broken by id), so those two tokenizers are
trained by the small trainer in this file instead.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import tokenizers  # noqa: E402
from tokenizers import AddedToken, Regex, Tokenizer  # noqa: E402
from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "Tests" / "TokenizersTests" / "Fixtures"

LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# --------------------------------------------------------------------------
# Training corpus
# --------------------------------------------------------------------------

SUBJECTS = [
    "the model", "our team", "a small tokenizer", "the compiler", "my neighbour",
    "the library", "every student", "the old server", "this function", "she", "he",
    "they", "we", "you", "the committee", "a curious cat", "the river", "the report",
    "the new release", "an engineer", "the benchmark", "the dataset", "the city council",
]
VERBS = [
    "reads", "writes", "tests", "builds", "ignores", "measures", "describes", "needs",
    "splits", "merges", "encodes", "decodes", "remembers", "finds", "moves", "changes",
    "compares", "returns", "loads", "saves", "counts", "prints", "explains", "tracks",
]
OBJECTS = [
    "the weather", "every line of the file", "a long list of numbers", "the results",
    "three hundred tokens", "the morning train", "an unexpected error", "the whole story",
    "the configuration", "each byte", "a cup of coffee", "the final answer", "its own memory",
    "the input text", "several thousand words", "the quarterly figures", "a broken link",
]
ADVERBS = [
    "quickly", "carefully", "again", "without complaint", "every day", "in the end",
    "once more", "for a while", "at night", "by accident", "with great care", "slowly",
]
CONTRACTIONS = [
    "don't", "can't", "won't", "it's", "I'm", "you're", "we'll", "they've", "she'd",
    "isn't", "wasn't", "couldn't", "we'd", "that's", "there's", "I've", "you'll",
    "DON'T", "I'M", "IT'S", "We'Re", "they'LL",
]
CONNECTORS = ["and", "but", "so", "because", "although", "while", "then", "yet"]
COMMON_WORDS = (
    "the of and to in is it you that he was for on are with as his they be at one have this "
    "from or had by hot word but what some we can out other were all there when up use your how "
    "said an each she which do their time if will way about many then them write would like so "
    "these her long make thing see him two has look more day could go come did number sound no "
    "most people my over know water than call first who may down side been now find any new work "
    "part take get place made live where after back little only round man year came show every "
    "good me give our under name very through just form sentence great think say help low line "
    "differ turn cause much mean before move right boy old too same tell does set three want air "
    "well also play small end put home read hand port large spell add even land here must big high "
    "such follow act why ask men change went light kind off need house picture try us again animal "
    "point mother world near build self earth father head stand own page should country found "
    "answer school grow study still learn plant cover food sun four between state keep eye never "
    "last let thought city tree cross farm hard start might story saw far sea draw left late run "
    "while press close night real life few north open seem together next white children begin got "
    "walk example ease paper group always music those both mark often letter until mile river car "
    "feet care second book carry took science eat room friend began idea fish mountain stop once "
    "base hear horse cut sure watch color face wood main enough plain girl usual young ready above "
    "ever red list though feel talk bird soon body dog family direct pose leave song measure door "
    "product black short numeral class wind question happen complete ship area half rock order fire "
    "south problem piece told knew pass since top whole king space heard best hour better true during "
    "hundred five remember step early hold west ground interest reach fast verb sing listen six table "
    "travel less morning ten simple several vowel toward war lay against pattern slow center love "
    "person money serve appear road map rain rule govern pull cold notice voice unit power town fine "
    "hello quick brown fox jumps lazy leading trailing spaces tab value values comment code token "
    "tokenizer school naive cafe"
).split()
NAMES = ["Alice", "Bob", "Carol", "Dmitri", "Eun-ji", "Fatima", "Gustavo", "Hiroshi", "Ingrid", "José"]

MULTILINGUAL = [
    "你好，世界！今天天气很好，我们去公园散步吧。",
    "这个分词器需要处理中文、数字123和标点符号。",
    "机器学习模型的训练数据非常重要。",
    "日本語の文章です。カタカナとひらがなと漢字が混ざっています。",
    "東京は日本の首都で、人口がとても多いです。",
    "한국어 문장입니다. 오늘은 날씨가 좋네요.",
    "서울에서 부산까지 기차로 세 시간 걸립니다.",
    "ภาษาไทยเขียนติดกันโดยไม่มีช่องว่างระหว่างคำ",
    "สวัสดีครับ วันนี้อากาศดีมาก",
    "यह हिन्दी में लिखा गया एक वाक्य है।",
    "भारत की राजधानी नई दिल्ली है और यहाँ बहुत लोग रहते हैं।",
    "Tiếng Việt có rất nhiều dấu thanh: Việt Nam, người, được, những, thế giới.",
    "Hôm nay trời đẹp, chúng tôi đi dạo ở công viên.",
    "Привет, мир! Это предложение на русском языке.",
    "Γειά σου κόσμε! Αυτή είναι μια ελληνική πρόταση.",
    "Straße, Größe, Übermut und Ärger sind deutsche Wörter.",
    "Le café est très bon à Paris, n'est-ce pas ? Où est l'hôtel ?",
    "¿Dónde está la estación? ¡Qué día tan bonito!",
    "العربية تكتب من اليمين إلى اليسار، وهذه جملة قصيرة.",
    "עברית נכתבת מימין לשמאל. שלום עולם!",
    "Türkçe: İstanbul'da ılık bir gün, ığdır ve şişli.",
    "Emoji: 😀 😂 👍🏽 ❤️ 🎉 🚀 👨‍👩‍👧‍👦 🏳️‍🌈 🇫🇷 🇯🇵 1️⃣ 2️⃣",
    "Math: ∀x ∈ ℝ, x² ≥ 0; ∑ᵢ aᵢ ≤ ∫ f(x) dx ≈ π ≠ ∞.",
    "Fraktur 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and double-struck 𝕄𝕒𝕥𝕙, mahjong 🀄 and gothic 𐌰𐌱.",
    "Full width ＡＢＣ １２３ and ligatures ﬁ ﬂ and half width ｶﾀｶﾅ.",
]

CODE_TEMPLATES = [
    "def {f}({a}, {b}):\n    \"\"\"Return the {n} of {a} and {b}.\"\"\"\n    if {a} is None:\n        return {b}\n    return {a} + {b} * {k}\n",
    "func {f}(_ {a}: Int, {b}: Double) -> Double {{\n    let total = Double({a}) * {b}\n    return total / {k}.0\n}}\n",
    "for (int i = 0; i < {k}; ++i) {{\n\t{a}[i] = {b}[i] * 2;\n\tif ({a}[i] >= 100 && {b}[i] != 0) {{ break; }}\n}}\n",
    "const {f} = ({a}, {b}) => {{\n  // {n}\n  return [{a}, {b}].map(x => x ** {k});\n}};\n",
    "{{\"name\": \"{f}\", \"value\": {k}, \"tags\": [\"{a}\", \"{b}\"], \"ok\": true}}\n",
    "$ ./run.sh --input {a}.txt --count {k} > /tmp/{b}.log 2>&1\n",
    "SELECT {a}, COUNT(*) FROM {b} WHERE id > {k} GROUP BY {a};\n",
    "#include <stdio.h>\n#define CAT(x, y) x ## y\nint main(void) {{ printf(\"%d\\n\", {k}); return 0; }}\n",
    "<div class=\"{f}\"><a href=\"https://example.com/{a}?q={k}&amp;r={b}\">{n}</a></div>\n",
    "    {a}_{b} = self.__{f}__({k})  # TODO: {n}\n",
    "{n} of {a}\n==========\n\n# ------------------------------\n// {b}: {k}\n",
    "/* ======== {f} ======== */\n#### {n}\n- [ ] {a}...\n- [x] {b}!!!\n",
]
IDENTS = ["x", "y", "count", "total", "items", "value", "buffer", "left", "right", "node",
          "tokenIds", "max_len", "userName", "dataFrame", "idx", "weights"]
FUNCS = ["add", "merge_pairs", "encodeText", "load", "compute_mean", "parseHeader", "step"]
NOUNS = ["sum", "product", "difference", "average", "result", "length"]


def _sentence(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.45:
        s = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(ADVERBS)}"
    elif kind < 0.7:
        s = (f"{rng.choice(NAMES)} said {rng.choice(CONTRACTIONS)} {rng.choice(VERBS)[:-1]} "
             f"{rng.choice(OBJECTS)}, {rng.choice(CONNECTORS)} {rng.choice(SUBJECTS)} "
             f"{rng.choice(CONTRACTIONS)} know")
    elif kind < 0.85:
        n = rng.choice([
            str(rng.randint(0, 9999)),
            f"{rng.randint(1, 999):,}.{rng.randint(0, 99):02d}",
            f"{rng.randint(1900, 2030)}",
            f"{rng.randint(0, 23)}:{rng.randint(0, 59):02d}",
            f"{rng.randint(1, 100)}%",
            f"${rng.randint(1, 99999):,}",
            str(rng.randint(10**9, 10**12)),
        ])
        s = f"in {rng.randint(1990, 2025)} {rng.choice(SUBJECTS)} {rng.choice(VERBS)} {n} items"
    else:
        s = f"\"{rng.choice(CONTRACTIONS)} {rng.choice(VERBS)} it,\" {rng.choice(NAMES)} wrote ({rng.choice(ADVERBS)})"
    s = s[0].upper() + s[1:]
    if rng.random() < 0.05:
        s = s.upper()
    return s + rng.choice([".", ".", ".", "!", "?", ";", "..."])


def _prose(rng: random.Random) -> str:
    words = [rng.choice(COMMON_WORDS) for _ in range(rng.randint(6, 18))]
    if rng.random() < 0.3:
        words.insert(rng.randint(0, len(words)), rng.choice(CONTRACTIONS))
    if rng.random() < 0.2:
        words.insert(rng.randint(0, len(words)), str(rng.randint(0, 10**rng.randint(1, 8))))
    s = " ".join(words)
    s = s[0].upper() + s[1:]
    if rng.random() < 0.05:
        s = s.upper()
    return s + rng.choice([".", ".", ",", "!", "?", ":"])


def _code(rng: random.Random) -> str:
    t = rng.choice(CODE_TEMPLATES)
    return t.format(f=rng.choice(FUNCS), a=rng.choice(IDENTS), b=rng.choice(IDENTS),
                    k=rng.randint(1, 4096), n=rng.choice(NOUNS))


def build_corpus(seed: int = 20240521, target_chars: int = 300_000) -> list[str]:
    """Deterministic list of documents (a few hundred KB of text)."""
    rng = random.Random(seed)
    docs: list[str] = []
    total = 0
    while total < target_chars:
        r = rng.random()
        if r < 0.55:
            make = _sentence if rng.random() < 0.5 else _prose
            para = " ".join(make(rng) for _ in range(rng.randint(2, 6)))
            if rng.random() < 0.1:
                para = "  " + para + "   "
            if rng.random() < 0.15:
                para = para.replace(". ", ".\r\n")
            doc = para
        elif r < 0.8:
            doc = "".join(_code(rng) for _ in range(rng.randint(1, 3)))
            if rng.random() < 0.2:
                doc = doc.replace("\n", "\r\n")
        elif r < 0.95:
            line = rng.choice(MULTILINGUAL)
            if rng.random() < 0.3:
                line = unicodedata.normalize("NFD", line)
            doc = line + rng.choice(["", " ", "\n", "\n\n"]) + _sentence(rng)
        else:
            ws = rng.choice([" " * rng.randint(2, 12), "\t" * rng.randint(1, 3), "\n\n\n", " \t ", "\r\n\r\n"])
            doc = f"{_sentence(rng)}{ws}{_sentence(rng)}"
        docs.append(doc)
        total += len(doc)
    return docs


# --------------------------------------------------------------------------
# Test strings
# --------------------------------------------------------------------------

LONG_WORD = "pneumonoultramicroscopicsilicovolcanoconiosis" * 12  # 540 characters

CASES: list[str] = [
    "",
    " ",
    "   ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "Hello world",
    "Hello world!",
    " Hello world",
    "  two leading spaces",
    "trailing space ",
    "trailing spaces and tab   \t",
    "a  b   c    d     e",
    " " * 50 + "x",
    "hello\tworld\t\ttabs",
    "tab\tsep\tvalues\n1\t2\t3\n",
    "line one\nline two\n",
    "windows\r\nline endings\r\n",
    "lone\rcarriage return",
    "\n\n\nblank lines\n\n",
    "   \n  \t\n",
    "mixed \t \r\n \n  end",
    "I'm sure you're right, it's what we'd've done.",
    "I'M SURE YOU'RE RIGHT; DON'T WORRY, WE'LL GO.",
    "You'Re, We'Ve, They'Ll, She'D, It'S",
    "don't can't won't shouldn't y'all o'clock",
    "'s 's's ''s 'S",
    "the cat'ſ toy, x'ſx y'ſtx x'Sx x'REx x'LLx x'\u212ax",
    "!\x0b!\x0c!\x1c!\x85!\xa0!\u1680!\u180e!\u2007!\u200b!\u2028!\u202f!\u3000!\ufeff!",
    "\u2018curly\u2019 \u201cquotes\u201d vs 'straight' ones",
    "12345678901234567890",
    "2019 20192020 1999199 100200 $2010",
    "3.14159 2,718 1e-10 0x1F 007 -42",
    "abc123def 4ever v2.0.1 COVID-19 iPhone15 a1b2c3",
    "\u00b9\u00b2\u00b3 \u00bd \u0663\u0664\u0665 \u0e51\u0e52\u0e53 \u096a\u096b\u096c \u216b \u2460\u2461",
    "$1,234.56 (approx. 15%) on 2024-05-21 at 10:45pm",
    "def add(a, b):\n    return a + b\n",
    "if (x >= 10 && y != 0) { z += x / y; }  // comment",
    "\tindented with tab\n\t\tdouble tab",
    "    four spaces\n        eight spaces",
    "<html><body class=\"main\">Hi &amp; bye</body></html>",
    "https://example.com/path?q=1&lang=en#frag user@example.org",
    "!!!??? ... --- === *** ### @@@",
    "#define CAT(x, y) x ## y",
    "camelCaseIdentifier snake_case_name SCREAMING_CASE kebab-case __init__",
    "你好，世界！这是一个测试。",
    "日本語のテキストとカタカナ、ひらがな。",
    "한국어 문장도 있습니다.",
    "ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "हिन्दी में लिखा गया वाक्य।",
    "Tiếng Việt có dấu: Việt Nam, người, được.",
    unicodedata.normalize("NFD", "Tiếng Việt có dấu: Việt Nam, người, được."),
    "café vs cafe\u0301",
    "e\u0301 \u00e9",
    "a \u0301b \u0301",
    "\ufb01 \ufb02 \uff21\uff22\uff23 \uff11\uff12\uff13 \uff76\uff80\uff76\uff85",
    "\u212bngstr\u00f6m \u00c5 A\u030a",
    "Stra\u00dfe STRASSE \u01c5 \u01c8",
    "\u0130stanbul \u0131i \u0130I",
    "\u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3 \u1f48\u0394\u03a5\u03a3\u03a3\u0395\u038e\u03a3",
    "العربية نص من اليمين إلى اليسار",
    "עברית: שלום עולם",
    "mixed RTL: hello שלום world مرحبا 123",
    "∀x∈ℝ: x² ≥ 0 ⇒ √(x²) = |x| ∑ ∫ ≠ ≤",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙 🀄 𐍈",
    "🀄",
    "emoji 😀😃😄 👍🏽 👍🏿",
    "family 👨\u200d👩\u200d👧\u200d👦 and flag 🏳\ufe0f\u200d🌈 🇺🇸🇯🇵",
    "keycaps 1\ufe0f\u20e3 2\ufe0f\u20e3 #\ufe0f\u20e3 *\ufe0f\u20e3",
    "zero\u200bwidth\u200cnon\u200djoiner\u2060word",
    "no\u00a0break\u00a0space and\u3000ideographic\u3000space",
    "Hello\u00a0\u00a0world \u00a0",
    "\u2028line sep\u2029para sep\u0085next line",
    "control \x00\x01\x1b[31mred\x1b[0m \x7f",
    "info sep \x1c\x1d\x1e\x1f end",
    "\ufeffBOM at start",
    "\u180emongolian\u180evowel separator",
    "soft\u00adhyphen",
    "already \u2581 has \u2581meta \u2581\u2581 symbols",
    "\u0120\u0120 \u0120hello \u010a",
    "<0x41> <0xE4> literal byte names",
    "hi<|endoftext|>there",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "<|begin_of_text|><|eot_id|> <|end_of_text|>",
    "<|endoftext|><|endoftext|> <|endoftext|",
    "<s>[INST] hi [/INST]</s>",
    "<think>\nplan\n</think>\n\nanswer<|im_end|>",
    "x [MASK] y",
    "x[MASK]y  [MASK]   [MASK]",
    "a <sep>   b<sep>c <sep>",
    "hello world",
    "Hello World and hello worlds",
    "say hello world, hello world!",
    "xhello world hello worldx",
    "ÉCOLE école Ecole ÉCOLES",
    "na\u00efve NA\u00cfVE nai\u0308ve",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "============================================",
    "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG.",
    LONG_WORD,
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "你好",
    "ſ",
    "'",
]


# --------------------------------------------------------------------------
# A small deterministic BPE trainer (used for prefix / suffix variants)
# --------------------------------------------------------------------------

def train_bpe_deterministic(
    word_counts: Counter,
    vocab_size: int,
    specials: list[str],
    min_char_count: int,
    continuing_subword_prefix: str | None = None,
    end_of_word_suffix: str | None = None,
    min_frequency: int = 2,
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Plain BPE on word counts. Ties between pairs with the same count are
    broken by the pair's strings, so the result does not depend on hashing.

    Symbols follow the library's conventions: every character but the first of
    a word carries ``continuing_subword_prefix``; the last carries
    ``end_of_word_suffix``; merging (a, b) gives a + b with b's prefix removed.
    Characters seen fewer than ``min_char_count`` times are left out of the
    alphabet (and out of the training words), as the library's trainer does with
    ``limit_alphabet``.
    """
    prefix = continuing_subword_prefix or ""
    suffix = end_of_word_suffix or ""

    char_counts: Counter = Counter()
    for w, c in word_counts.items():
        for ch in w:
            char_counts[ch] += c
    alphabet_chars = {ch for ch, c in char_counts.items() if c >= min_char_count}

    words: list[list[str]] = []
    counts: list[int] = []
    for w, c in sorted(word_counts.items()):
        chars = [ch for ch in w if ch in alphabet_chars]
        if not chars:
            continue
        syms = []
        for i, ch in enumerate(chars):
            s = ch if i == 0 else prefix + ch
            if i == len(chars) - 1:
                s = s + suffix
            syms.append(s)
        words.append(syms)
        counts.append(c)

    base = sorted({s for w in words for s in w})
    vocab: dict[str, int] = {}
    for s in specials + base:
        if s not in vocab:
            vocab[s] = len(vocab)

    def merged(a: str, b: str) -> str:
        if prefix and b.startswith(prefix):
            b = b[len(prefix):]
        return a + b

    pair_counts: Counter = Counter()
    where: dict[tuple[str, str], set[int]] = {}
    for wi, syms in enumerate(words):
        for p in zip(syms, syms[1:]):
            pair_counts[p] += counts[wi]
            where.setdefault(p, set()).add(wi)

    merges: list[tuple[str, str]] = []
    while len(vocab) < vocab_size and pair_counts:
        # Highest count, then smallest (a, b) in code point order.
        best, best_count = None, 0
        for p, c in pair_counts.items():
            if c > best_count or (c == best_count and p < best):
                best, best_count = p, c
        if best is None or best_count < min_frequency:
            break
        a, b = best
        new = merged(a, b)
        merges.append(best)
        if new not in vocab:
            vocab[new] = len(vocab)
        for wi in sorted(where.get(best, ())):
            syms = words[wi]
            c = counts[wi]
            for p in zip(syms, syms[1:]):
                pair_counts[p] -= c
                if pair_counts[p] <= 0:
                    del pair_counts[p]
            out: list[str] = []
            i = 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            words[wi] = out
            for p in zip(out, out[1:]):
                pair_counts[p] += c
                where.setdefault(p, set()).add(wi)
        where.pop(best, None)
    return vocab, merges


def pretokenized_word_counts(tok: Tokenizer, docs: list[str]) -> Counter:
    counts: Counter = Counter()
    for d in docs:
        text = tok.normalizer.normalize_str(d) if tok.normalizer is not None else d
        for piece, _ in tok.pre_tokenizer.pre_tokenize_str(text):
            counts[piece] += 1
    return counts


# --------------------------------------------------------------------------
# Tokenizers
# --------------------------------------------------------------------------

def byte_level_trainer(vocab_size: int, specials: list[str]) -> trainers.BpeTrainer:
    return trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )


# Pieces added to the llama3_style vocabulary with no merge that produces them
# (Llama 3's own vocabulary has such entries). Only ignore_merges reaches them.
LLAMA3_MERGELESS_PIECES = [" QUICK", "你好", "pneumonoultramicroscopicsilicovolcanoconiosis"]


def byte_level_piece(text: str) -> str:
    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False).pre_tokenize_str(text)[0][0]


def make_llama3(docs: list[str]) -> Tokenizer:
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
    tok = Tokenizer(models.BPE(byte_fallback=False, ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(docs, byte_level_trainer(1200, specials))
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A",
        pair="<|begin_of_text|> $A <|begin_of_text|> $B",
        special_tokens=[("<|begin_of_text|>", bos)],
    )
    data = json.loads(tok.to_str())
    vocab = data["model"]["vocab"]
    for piece in LLAMA3_MERGELESS_PIECES:
        key = byte_level_piece(piece)
        assert key not in vocab, key
        vocab[key] = max(vocab.values()) + 1
    return Tokenizer.from_str(json.dumps(data))


def make_qwen2(docs: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE(byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.train_from_iterator(docs, byte_level_trainer(1000, []))
    # Added after training, so they get ids after the model vocabulary (as in Qwen2).
    tok.add_special_tokens([
        AddedToken("<|endoftext|>", special=True, normalized=False),
        AddedToken("<|im_start|>", special=True, normalized=False),
        AddedToken("<|im_end|>", special=True, normalized=False),
    ])
    # Non-special added tokens (kept by decode(skip_special_tokens=True)).
    # "naïve" is there for the decoder: its characters are all in the
    # byte-level alphabet, so the ByteLevel decoder turns it into bytes.
    tok.add_tokens([
        AddedToken("<think>", special=False, normalized=False),
        AddedToken("</think>", special=False, normalized=False),
        AddedToken("na\u00efve", special=False, normalized=False),
    ])
    return tok


def make_gpt2(docs: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    # "<|endoftext|>" is both in the model vocabulary (id 0) and an added special token.
    tok.train_from_iterator(docs, byte_level_trainer(800, ["<|endoftext|>"]))
    return tok


def _tie_free_alphabet_limit(tok: Tokenizer, docs: list[str], wanted: int) -> int:
    """limit_alphabet keeps the N most frequent characters; with a tie at the
    cut the library picks in hash order. Return an N with no tie at the cut."""
    counts: Counter = Counter()
    for w, c in pretokenized_word_counts(tok, docs).items():
        for ch in w:
            counts[ch] += c
    freq = sorted(counts.values(), reverse=True)
    n = min(wanted, len(freq))
    while n < len(freq) and freq[n - 1] == freq[n]:
        n += 1
    return n


def make_sentencepiece(docs: list[str]) -> Tokenizer:
    specials = ["<unk>", "<s>", "</s>"]
    # 1. Train on "▁word" pieces (what SentencePiece does) with a limited
    #    alphabet, so that rare characters have to go through byte fallback.
    trainer_tok = Tokenizer(models.BPE())
    trainer_tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=True)
    limit = _tie_free_alphabet_limit(trainer_tok, docs, 120)
    trainer_tok.train_from_iterator(docs, trainers.BpeTrainer(
        vocab_size=750, min_frequency=2, show_progress=False, special_tokens=specials,
        limit_alphabet=limit,
    ))
    trained = json.loads(trainer_tok.to_str())["model"]
    # 2. Rebuild the vocabulary Llama-2 style: specials, the 256 byte tokens,
    #    then the trained pieces in their trained order.
    vocab: dict[str, int] = {}
    for s in specials + [f"<0x{b:02X}>" for b in range(256)]:
        vocab[s] = len(vocab)
    for piece, _ in sorted(trained["vocab"].items(), key=lambda kv: kv[1]):
        if piece not in vocab:
            vocab[piece] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in trained["merges"]]

    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.pre_tokenizer = None
    tok.decoder = decoders.Sequence([
        decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0),
    ])
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", vocab["<s>"])],
    )
    return tok


def make_metaspace_digits(docs: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE())  # replaced below
    tok.normalizer = normalizers.Sequence([
        normalizers.NFKC(), normalizers.Lowercase(), normalizers.Strip(left=True, right=True),
    ])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True),
        pre_tokenizers.Digits(individual_digits=True),
    ])
    counts = pretokenized_word_counts(tok, docs)
    vocab, merges = train_bpe_deterministic(
        counts, vocab_size=700, specials=[], min_char_count=40, continuing_subword_prefix="##",
    )
    # No unk_token: characters missing from the vocabulary are dropped.
    tok.model = models.BPE(vocab=vocab, merges=merges, continuing_subword_prefix="##")
    tok.decoder = decoders.Sequence([
        decoders.Replace("##", ""),
        decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True),
    ])
    tok.add_tokens([
        AddedToken("[MASK]", special=True, lstrip=True),
        AddedToken("<sep>", special=False, rstrip=True),
        AddedToken("hello world", special=False, single_word=True),
        AddedToken("\u00c9COLE", special=False, normalized=False),
        AddedToken("na\u00efve", special=False, normalized=True),
    ])
    return tok


def make_whitespace_eow(docs: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE())  # replaced below
    tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["<unk>", "<s>", "</s>"]
    counts = pretokenized_word_counts(tok, docs)
    vocab, merges = train_bpe_deterministic(
        counts, vocab_size=600, specials=specials, min_char_count=30, end_of_word_suffix="</w>",
    )
    tok.model = models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=False, end_of_word_suffix="</w>")
    tok.decoder = decoders.BPEDecoder(suffix="</w>")
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
        special_tokens=[("<s>", vocab["<s>"]), ("</s>", vocab["</s>"])],
    )
    return tok


# --------------------------------------------------------------------------
# Output helpers
# --------------------------------------------------------------------------

_ESCAPE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Zs", "Co", "Cs", "Mn", "Me"}


def _escape_invisible(s: str) -> str:
    """Escape characters that are invisible or confusing in an editor, after
    json.dumps(ensure_ascii=False). They only occur inside JSON strings."""
    out = []
    for ch in s:
        if ch != " " and ch != "\n" and unicodedata.category(ch) in _ESCAPE_CATEGORIES:
            cp = ord(ch)
            if cp > 0xFFFF:
                cp -= 0x10000
                out.append(f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}")
            else:
                out.append(f"\\u{cp:04x}")
        else:
            out.append(ch)
    return "".join(out)


def dump_json(obj, path: Path, one_per_line: bool = False) -> None:
    if one_per_line and isinstance(obj, list):
        body = "[\n" + ",\n".join(json.dumps(x, ensure_ascii=False) for x in obj) + "\n]\n"
    else:
        body = json.dumps(obj, ensure_ascii=False, indent=1) + "\n"
    body = _escape_invisible(body)
    assert json.loads(body) == obj
    path.write_text(body, encoding="utf-8")


def expected_for(tok: Tokenizer, cases: list[str]) -> list[dict]:
    out = []
    for text in cases:
        enc = tok.encode(text)  # add_special_tokens=True
        ids = enc.ids
        out.append({
            "ids": ids,
            "tokens": enc.tokens,
            "ids_no_special": tok.encode(text, add_special_tokens=False).ids,
            "decoded": tok.decode(ids, skip_special_tokens=False),
            "decoded_skip": tok.decode(ids, skip_special_tokens=True),
            "decoded_each": [tok.decode([i], skip_special_tokens=False) for i in ids],
        })
    return out


def merges_as_strings(tokenizer_json: str) -> str:
    data = json.loads(tokenizer_json)
    merges = data["model"]["merges"]
    for a, b in merges:
        assert " " not in a and " " not in b, "a merge part contains a space"
    data["model"]["merges"] = [f"{a} {b}" for a, b in merges]
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def ignore_merges_report(tok: Tokenizer, cases: list[str], docs: list[str]) -> list[str]:
    """Encode with ignore_merges switched off and list the differences."""
    data = json.loads(tok.to_str())
    data["model"]["ignore_merges"] = False
    plain = Tokenizer.from_str(json.dumps(data))
    lines = []
    n_case = 0
    for text in cases:
        a, b = tok.encode(text), plain.encode(text)
        if a.ids != b.ids:
            n_case += 1
            lines.append(f"case {text!r}: {a.tokens} (ignore_merges) vs {b.tokens}")
    n_doc = sum(tok.encode(d).ids != plain.encode(d).ids for d in docs[:2000])
    words = set()
    for d in docs[:2000]:
        for piece, _ in tok.pre_tokenizer.pre_tokenize_str(d):
            words.add(piece)
    diff_words = []
    for w in sorted(words):
        a = tok.model.tokenize(w)
        b = plain.model.tokenize(w)
        if [t.id for t in a] != [t.id for t in b]:
            diff_words.append((w, [t.value for t in a], [t.value for t in b]))
    lines.insert(0, f"{n_case} of {len(cases)} cases and {n_doc} of {min(2000, len(docs))} corpus documents "
                    f"encode differently without ignore_merges; {len(diff_words)} distinct words differ")
    for w, a, b in diff_words[:8]:
        lines.append(f"word {w!r}: {a} (ignore_merges) vs {b} (merges only)")
    return lines


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

BUILDERS = [
    ("llama3_style", make_llama3),
    ("qwen2_style", make_qwen2),
    ("gpt2_style", make_gpt2),
    ("sentencepiece_style", make_sentencepiece),
    ("metaspace_digits", make_metaspace_digits),
    ("whitespace_eow", make_whitespace_eow),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument("--report", action="store_true",
                    help="also print the ignore_merges comparison for llama3_style")
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    docs = build_corpus()
    print(f"corpus: {len(docs)} documents, {sum(len(d.encode()) for d in docs)} bytes")

    written: list[Path] = []
    dump_json(CASES, out / "cases.json", one_per_line=True)
    written.append(out / "cases.json")

    manifest = {"tokenizers_version": tokenizers.__version__, "cases": "cases.json", "tokenizers": []}
    built: dict[str, Tokenizer] = {}
    for name, build in BUILDERS:
        tok = build(docs)
        path = out / f"{name}.json"
        tok.save(str(path), pretty=True)
        # Reload from disk: the fixture must describe the file, not the object.
        tok = Tokenizer.from_file(str(path))
        built[name] = tok
        exp_path = out / f"{name}.expected.json"
        dump_json(expected_for(tok, CASES), exp_path, one_per_line=True)
        written += [path, exp_path]
        manifest["tokenizers"].append({
            "name": name, "tokenizer": path.name, "expected": exp_path.name,
            "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        })

    # The same GPT-2 style tokenizer with merges stored as "a b" strings.
    legacy_path = out / "gpt2_style_merges_as_strings.json"
    legacy_path.write_text(merges_as_strings((out / "gpt2_style.json").read_text(encoding="utf-8")), encoding="utf-8")
    legacy = Tokenizer.from_file(str(legacy_path))
    modern = built["gpt2_style"]
    for text in CASES + docs[:500]:
        assert legacy.encode(text).ids == modern.encode(text).ids, f"merge formats disagree on {text!r}"
    assert isinstance(json.loads((out / "gpt2_style.json").read_text())["model"]["merges"][0], list)
    assert isinstance(json.loads(legacy_path.read_text())["model"]["merges"][0], str)
    written.append(legacy_path)
    manifest["tokenizers"].append({
        "name": "gpt2_style_merges_as_strings", "tokenizer": legacy_path.name,
        "expected": "gpt2_style.expected.json",
        "vocab_size": legacy.get_vocab_size(with_added_tokens=True),
    })

    dump_json(manifest, out / "manifest.json")
    written.append(out / "manifest.json")

    total = 0
    for p in written + [out / "README.md"]:
        if p.exists():
            size = p.stat().st_size
            total += size
            digest = hashlib.sha256(p.read_bytes()).hexdigest()[:12]
            print(f"  {p.relative_to(ROOT) if p.is_relative_to(ROOT) else p}  {size:>8} bytes  sha256:{digest}")
    print(f"total {total} bytes")

    if args.report:
        print("\nllama3_style, ignore_merges on vs off:")
        for line in ignore_merges_report(built["llama3_style"], CASES, docs):
            print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
