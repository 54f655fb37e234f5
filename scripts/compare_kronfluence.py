#!/usr/bin/env python3
"""Compare EK-FAC influence scores from kronfluence with ours (`influence fit/score`).

What it does
------------
1. Writes the inputs both sides use into --work-dir (default /tmp/kf-compare):
   * ``docs.jsonl``    the first --docs lines of notebooks-data/corpus-sample.jsonl
   * ``queries.jsonl`` the first ceil(M/2) factual + first floor(M/2) reasoning queries
     (M = --queries), factual first.
2. Runs kronfluence 1.0.1 on CPU (strategy "ekfac") on the model loaded with
   transformers in float32, in two child processes so that each stage has its own
   wall time and peak RSS (like our two commands):
     ``--stage fit``   -> the three calls of Analyzer.fit_all_factors, timed separately
                          (fit_covariance_matrices, perform_eigendecomposition,
                          fit_lambda_matrices)
     ``--stage score`` -> Analyzer.compute_pairwise_scores
   and writes ``kronfluence_scores.h5``: /scores [Q, D] float32 (already in OUR sign
   convention, see below), /scores_kronfluence_raw (kronfluence's own output),
   /query_ids, /doc_ids, and the timings as attributes.
3. --reference: recomputes EK-FAC with a small independent torch implementation of
   the math described in the module docstring of ``reference_ekfac`` and reports its
   agreement with kronfluence (a check that our reading of kronfluence is right).
4. --ours: runs (executable from --ours-bin, default .build/release/influence)
     .build/release/influence fit   --model M --docs DOCS --out WORK/factors.h5 --fisher F --max-length L
     .build/release/influence score --model M --queries Q --docs DOCS --factors WORK/factors.h5
                                    --out WORK/scores.h5 --max-length L --normalize raw [--damping X]
   reads WORK/scores.h5 (/scores [Q, D], /query_ids, /doc_ids) and prints Spearman and
   Pearson over all Q x D scores, per-query top-10 overlap (mean, min) and a timing table.

Tokenisation and losses
-----------------------
Token ids come from the `tokenizers` library on tokenizer.json, ``encode(text).ids``
(its post_processor is ByteLevel: no BOS/EOS is added). Documents are truncated to
--max-length tokens; the train loss is the SUM over positions t = 0..T-2 of
cross_entropy(logits[t], ids[t+1]) (T - 1 predictions per document).
A query is ``encode(prompt).ids + encode(completion).ids`` (encoded separately and
concatenated; for all 1020 shipped queries this equals ``encode(prompt + completion)``),
truncated to --max-length. Its completion tokens are those at positions >= len(prompt ids).

Sign convention
---------------
kronfluence returns  score = grad f(q)^T (G + lambda I)^-1 grad L(z)  with L(z) the train
loss (summed cross-entropy, i.e. -log p(z)) and f the task's measurement, and no minus
sign. With the default --measurement loss, f = summed cross-entropy of the completion
= -log p(completion | prompt), so the two minus signs cancel:
    kronfluence score = grad log p(c|p)^T (G + lambda I)^-1 grad log p(z) = OUR score.
Positive = up-weighting z lowers the query loss (raises the completion's likelihood).
With --measurement loglik (f = +log p(c|p)) kronfluence's raw score is -OUR score; the
script multiplies by -1 before storing /scores and comparing.

Batching
--------
Examples are padded on the right to the longest one in the batch, with
attention_mask 0 and label -100 on padding; Task.get_attention_mask returns the mask so
kronfluence's covariance pass neither includes padded activations nor counts padded
tokens. Under causal attention right padding leaves real positions unchanged, so
--batch-size only changes float rounding (use --batch-size 1 for strictly per-document
passes).

Settings
--------
Damping: --damping heuristic (default) passes damping_factor=None, i.e. 0.1 x mean(Lambda)
per module; note that kronfluence's own ScoreArguments default is 1e-8, not the heuristic.
Fisher: --fisher empirical (default) is deterministic; --fisher true samples labels
(torch.multinomial, seeded by --seed), so two runs never agree exactly.
Threads: --threads 1 (default) for kronfluence; with 2 threads on a loaded 2-core machine
OpenMP spinning made torch.linalg.eigh ~70x slower.

Query tokens: --query-tokens odd keeps the loss of the odd-numbered completion tokens only
(label -100 on the others) on kronfluence's side, and gives ours the same masks as a file
(`influence score --query-tokens WORK/query-masks.jsonl`); --query-tokens all (default) keeps
every completion token, and the file then holds masks of all ones.

Run:  python3 scripts/compare_kronfluence.py [--reference] [--ours] [--docs 64 --queries 8]
Takes about 25-30 s for the kronfluence half (64 docs, 8 queries, 1 thread); --reference
adds about 20 s (minutes when the machine is loaded).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MLP_SITES = ("gate_proj", "up_proj", "down_proj")


# ----------------------------------------------------------------------------- inputs

def read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            rows.append(json.loads(line))
            if limit is not None and len(rows) >= limit:
                break
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def prepare_inputs(args) -> tuple[Path, Path]:
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    data = REPO / "notebooks-data"
    docs = read_jsonl(Path(args.corpus) if args.corpus else data / "corpus-sample.jsonl", args.docs)
    n_fact = (args.queries + 1) // 2
    n_reason = args.queries - n_fact
    queries = read_jsonl(data / "queries" / "factual.jsonl", n_fact)
    queries += read_jsonl(data / "queries" / "reasoning.jsonl", n_reason) if n_reason > 0 else []
    docs_path, queries_path = work / "docs.jsonl", work / "queries.jsonl"
    write_jsonl(docs_path, docs)
    write_jsonl(queries_path, queries)
    # The same masks for our side (influence score --query-tokens FILE), one per query.
    tok = load_tokenizer(Path(args.model))
    write_jsonl(work / "query-masks.jsonl",
                [{"id": q["id"], "mask": completion_mask(len(tok.encode(q["completion"]).ids), args.query_tokens)} for q in queries])
    return docs_path, queries_path


def load_tokenizer(model_dir: Path):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(model_dir / "tokenizer.json"))


def tokenize_docs(tok, docs: list[dict], max_length: int) -> list[dict]:
    out = []
    for d in docs:
        ids = tok.encode(d["text"]).ids[:max_length]
        out.append({"input_ids": ids, "labels": list(ids)})
    return out


def completion_mask(n: int, rule: str) -> list[int]:
    """--query-tokens: which of a query's n completion tokens count in its loss (all, or the
    odd-numbered ones: a mask that splits every completion)."""
    return [1] * n if rule == "all" else [i % 2 for i in range(n)]


def tokenize_queries(tok, queries: list[dict], max_length: int, rule: str = "all") -> list[dict]:
    out = []
    for q in queries:
        p = tok.encode(q["prompt"]).ids
        c = tok.encode(q["completion"]).ids
        ids = (p + c)[:max_length]
        mask = completion_mask(len(c), rule)
        labels = [-100] * min(len(p), len(ids)) + [t if keep else -100 for t, keep in zip(ids[len(p):], mask)]
        out.append({"input_ids": ids, "labels": labels})
    return out


# ----------------------------------------------------------------------------- model / task

def load_model(model_dir: Path):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32, attn_implementation="eager")
    model.eval()
    return model


def tracked_module_names(model) -> list[str]:
    n_layers = model.config.num_hidden_layers
    return [f"model.layers.{l}.mlp.{s}" for l in range(n_layers) for s in MLP_SITES]


def collate(examples: list[dict]):
    """Right-pad to the longest example: input pad id 0 (masked), label -100."""
    import torch

    T = max(len(e["input_ids"]) for e in examples)
    B = len(examples)
    input_ids = torch.zeros((B, T), dtype=torch.long)
    labels = torch.full((B, T), -100, dtype=torch.long)
    mask = torch.zeros((B, T), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e["input_ids"])
        input_ids[i, :n] = torch.tensor(e["input_ids"], dtype=torch.long)
        labels[i, :n] = torch.tensor(e["labels"], dtype=torch.long)
        mask[i, :n] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": mask}


def summed_next_token_ce(model, batch, sample: bool = False):
    """Sum over the batch of cross_entropy(logits[:, t], labels[:, t+1]), ignoring -100.

    With sample=True the targets are drawn from the model's own predictive
    distribution (true Fisher), at the same positions as the real labels.
    """
    import torch
    import torch.nn.functional as F

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
    logits = logits[:, :-1, :].reshape(-1, logits.size(-1))
    targets = batch["labels"][:, 1:].reshape(-1)
    if sample:
        with torch.no_grad():
            drawn = torch.multinomial(torch.softmax(logits.detach(), dim=-1), num_samples=1).flatten()
            targets = torch.where(targets == -100, targets, drawn)
    return F.cross_entropy(logits, targets, ignore_index=-100, reduction="sum")


def make_task(module_names: list[str], measurement: str):
    from kronfluence.task import Task

    class CausalLMTask(Task):
        def compute_train_loss(self, batch, model, sample=False):
            return summed_next_token_ce(model, batch, sample=sample)

        def compute_measurement(self, batch, model):
            ce = summed_next_token_ce(model, batch, sample=False)
            return ce if measurement == "loss" else -ce

        def get_influence_tracked_modules(self):
            return module_names

        def get_attention_mask(self, batch):
            return batch["attention_mask"]

    return CausalLMTask()


class ListDataset:
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


# ----------------------------------------------------------------------------- kronfluence stages

def load_inputs(args):
    """Seeds torch and loads the work dir's tokenized documents and queries and the fp32 model."""
    import torch

    torch.manual_seed(args.seed)
    model_dir = Path(args.model)
    tok = load_tokenizer(model_dir)
    work = Path(args.work_dir)
    docs = tokenize_docs(tok, read_jsonl(work / "docs.jsonl"), args.max_length)
    queries = tokenize_queries(tok, read_jsonl(work / "queries.jsonl"), args.max_length, args.query_tokens)
    return work, docs, queries, load_model(model_dir)


def kf_setup(args):
    import torch
    from kronfluence.analyzer import Analyzer, prepare_model
    from kronfluence.utils.dataset import DataLoaderKwargs

    if args.threads:
        torch.set_num_threads(args.threads)
    work, docs, queries, model = load_inputs(args)
    task = make_task(tracked_module_names(model), args.measurement)
    model = prepare_model(model, task)
    analyzer = Analyzer(
        analysis_name="compare",
        model=model,
        task=task,
        cpu=True,
        disable_tqdm=True,
        output_dir=str(work / "kronfluence"),
    )
    analyzer.set_dataloader_kwargs(DataLoaderKwargs(collate_fn=collate))
    return analyzer, ListDataset(docs), ListDataset(queries)


def stage_fit(args) -> None:
    from kronfluence.arguments import FactorArguments

    t0 = time.perf_counter()
    analyzer, docs, _ = kf_setup(args)
    factor_args = FactorArguments(
        strategy="ekfac",
        use_empirical_fisher=(args.fisher == "empirical"),
        covariance_max_examples=None,
        lambda_max_examples=None,
    )
    t1 = time.perf_counter()
    # The three calls Analyzer.fit_all_factors makes, timed separately.
    common = dict(factors_name="ekfac", factor_args=factor_args, overwrite_output_dir=True)
    analyzer.fit_covariance_matrices(dataset=docs, per_device_batch_size=args.batch_size, **common)
    tc = time.perf_counter()
    analyzer.perform_eigendecomposition(**common)
    te = time.perf_counter()
    analyzer.fit_lambda_matrices(dataset=docs, per_device_batch_size=args.batch_size, **common)
    t2 = time.perf_counter()
    dump_stage_timing(args, "fit", setup_s=t1 - t0, compute_s=t2 - t1,
                      covariance_s=tc - t1, eigendecomposition_s=te - tc, lambda_s=t2 - te)


def score_arguments(args):
    from kronfluence.arguments import ScoreArguments

    return ScoreArguments(
        damping_factor=None if args.damping == "heuristic" else float(args.damping),
        query_gradient_low_rank=args.query_rank,
        use_full_svd=args.query_rank is not None,
    )


def stage_score(args) -> None:

    t0 = time.perf_counter()
    analyzer, docs, queries = kf_setup(args)
    t1 = time.perf_counter()
    analyzer.compute_pairwise_scores(
        scores_name="ekfac_scores",
        factors_name="ekfac",
        query_dataset=queries,
        train_dataset=docs,
        per_device_query_batch_size=args.batch_size,
        per_device_train_batch_size=args.batch_size,
        score_args=score_arguments(args),
        overwrite_output_dir=True,
    )
    t2 = time.perf_counter()
    scores = analyzer.load_pairwise_scores("ekfac_scores")["all_modules"].to("cpu").double().numpy()
    np.save(Path(args.work_dir) / "kronfluence_raw_scores.npy", scores)
    dump_stage_timing(args, "score", setup_s=t1 - t0, compute_s=t2 - t1)


def dump_stage_timing(args, stage: str, **seconds: float) -> None:
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with open(Path(args.work_dir) / f"kronfluence_{stage}_timing.json", "w") as f:
        json.dump({**seconds, "peak_rss_mib": peak_kib / 1024}, f)


def run_child(cmd: list[str], log_path: Path | None = None) -> dict:
    """Run a command; return wall seconds and this child's own peak RSS (os.wait4)."""
    t0 = time.perf_counter()
    out = open(log_path, "w") if log_path else None
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=out or None, stderr=subprocess.STDOUT if out else None)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if out:
        out.close()
    if proc.returncode != 0:
        if log_path:
            sys.stderr.write(Path(log_path).read_text()[-4000:])
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return {"wall_s": wall, "peak_rss_mib": usage.ru_maxrss / 1024}


def child_args(args, stage: str) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", stage,
           "--model", str(args.model), "--work-dir", str(args.work_dir),
           "--max-length", str(args.max_length), "--batch-size", str(args.batch_size),
           "--fisher", args.fisher, "--damping", str(args.damping),
           "--measurement", args.measurement, "--seed", str(args.seed), "--query-tokens", args.query_tokens]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.query_rank is not None:
        cmd += ["--query-rank", str(args.query_rank)]
    return cmd


def run_kronfluence(args, doc_ids, query_ids) -> dict:
    import h5py

    work = Path(args.work_dir)
    shutil.rmtree(work / "kronfluence", ignore_errors=True)
    fit = run_child(child_args(args, "fit"), work / "kronfluence_fit.log")
    score = run_child(child_args(args, "score"), work / "kronfluence_score.log")
    inner_fit = json.loads((work / "kronfluence_fit_timing.json").read_text())
    inner_score = json.loads((work / "kronfluence_score_timing.json").read_text())
    raw = np.load(work / "kronfluence_raw_scores.npy")
    ours_convention = raw if args.measurement == "loss" else -raw
    timing = {
        "fit_wall_s": fit["wall_s"], "fit_compute_s": inner_fit["compute_s"], "fit_peak_rss_mib": fit["peak_rss_mib"],
        "fit_covariance_s": inner_fit["covariance_s"], "fit_eigendecomposition_s": inner_fit["eigendecomposition_s"],
        "fit_lambda_s": inner_fit["lambda_s"],
        "score_wall_s": score["wall_s"], "score_compute_s": inner_score["compute_s"],
        "score_peak_rss_mib": score["peak_rss_mib"],
    }
    with h5py.File(work / "kronfluence_scores.h5", "w") as f:
        f.create_dataset("scores", data=ours_convention.astype(np.float32))
        f.create_dataset("scores_kronfluence_raw", data=raw.astype(np.float32))
        f.create_dataset("query_ids", data=np.array(query_ids, dtype=object), dtype=h5py.string_dtype())
        f.create_dataset("doc_ids", data=np.array(doc_ids, dtype=object), dtype=h5py.string_dtype())
        for k, v in timing.items():
            f.attrs[k] = v
        f.attrs["damping"] = str(args.damping)
        f.attrs["fisher"] = args.fisher
        f.attrs["measurement"] = args.measurement
        f.attrs["max_length"] = args.max_length
    return {"scores": ours_convention, "timing": timing}


# ----------------------------------------------------------------------------- reference EK-FAC

def reference_ekfac(args) -> np.ndarray:
    """Independent EK-FAC in plain torch, following our reading of kronfluence 1.0.1.

    Per tracked linear with inputs a_t (in) and output gradients g_t = dL/dy_t (out):
      A = sum_t a_t a_t^T / N_tok,  S = sum_t g_t g_t^T / N_tok   (N_tok = real tokens)
      A = Q_A diag Q_A^T, S = Q_S diag Q_S^T (float64 eigh)
      Lambda = sum_docs (Q_S^T G_doc Q_A)^2 / N_docs,  G_doc = sum_t g_t a_t^T
      lambda = 0.1 * mean(Lambda) (heuristic) or the given value
      P_q = Q_S [(Q_S^T G_q Q_A) / (Lambda + lambda)] Q_A^T,  G_q = grad of the measurement
      score(q, d) = sum_modules <P_q, G_d>   (G_d = grad of the summed doc loss)
    Everything is accumulated in float64; the forward/backward run in float32.
    """
    import torch

    work, docs, queries, model = load_inputs(args)
    for p in model.parameters():
        p.requires_grad_(False)
    names = tracked_module_names(model)
    modules = dict(model.named_modules())

    def per_example(example, sample: bool):
        """Return {name: (a [T,in], g [T,out])} for one example's summed next-token loss."""
        captured: dict[str, list] = {}
        handles = []
        for n in names:
            def fwd(mod, inp, out, n=n):
                captured[n] = [inp[0].detach()[0].double()]
                out.register_hook(lambda grad, n=n: captured[n].append(grad.detach()[0].double()))
            handles.append(modules[n].register_forward_hook(fwd))
        batch = collate([example])
        emb = model.get_input_embeddings()
        # make the graph require grad without touching parameters: grad w.r.t. embeddings output
        h = emb(batch["input_ids"]).detach().requires_grad_(True)
        logits = model(inputs_embeds=h, attention_mask=batch["attention_mask"]).logits.float()
        logits = logits[:, :-1].reshape(-1, logits.size(-1))
        targets = batch["labels"][:, 1:].reshape(-1)
        if sample:
            with torch.no_grad():
                drawn = torch.multinomial(torch.softmax(logits, -1), 1).flatten()
                targets = torch.where(targets == -100, targets, drawn)
        loss = torch.nn.functional.cross_entropy(logits, targets, ignore_index=-100, reduction="sum")
        loss.backward()
        for hnd in handles:
            hnd.remove()
        return {n: (captured[n][0], captured[n][1]) for n in names}

    sample = args.fisher == "true"
    A = {n: 0.0 for n in names}
    S = {n: 0.0 for n in names}
    n_tok = 0
    for d in docs:
        ag = per_example(d, sample)
        n_tok += len(d["input_ids"])
        for n, (a, g) in ag.items():
            A[n] = A[n] + a.T @ a
            S[n] = S[n] + g.T @ g
    QA, QS = {}, {}
    for n in names:
        _, QA[n] = torch.linalg.eigh(A[n] / n_tok)
        _, QS[n] = torch.linalg.eigh(S[n] / n_tok)
    Lam = {n: 0.0 for n in names}
    for d in docs:
        ag = per_example(d, sample)
        for n, (a, g) in ag.items():
            G = g.T @ a
            Lam[n] = Lam[n] + (QS[n].T @ G @ QA[n]) ** 2
    inv = {}
    for n in names:
        L = Lam[n] / len(docs)
        damp = 0.1 * L.mean() if args.damping == "heuristic" else float(args.damping)
        inv[n] = 1.0 / (L + damp)
    P = []
    for q in queries:
        ag = per_example(q, False)  # measurement = summed CE of the completion (loss convention)
        P.append({n: QS[n] @ ((QS[n].T @ (g.T @ a) @ QA[n]) * inv[n]) @ QA[n].T for n, (a, g) in ag.items()})
    scores = np.zeros((len(queries), len(docs)))
    for j, d in enumerate(docs):
        ag = per_example(d, False)
        for n, (a, g) in ag.items():
            G = g.T @ a
            for i in range(len(queries)):
                scores[i, j] += float((P[i][n] * G).sum())
    return scores  # our sign convention (loss/loss == loglik/loglik)


# ----------------------------------------------------------------------------- ours

def run_ours(args, docs_path: Path, queries_path: Path, doc_ids, query_ids) -> dict:
    import h5py

    work = Path(args.work_dir)
    exe = str(Path(args.ours_bin).resolve())
    fit_cmd = [exe, "fit", "--model", str(args.model), "--docs", str(docs_path),
               "--out", str(work / "factors.h5"), "--fisher", args.fisher, "--max-length", str(args.max_length)]
    score_cmd = [exe, "score", "--model", str(args.model), "--queries", str(queries_path), "--docs", str(docs_path),
                 "--factors", str(work / "factors.h5"), "--out", str(work / "scores.h5"),
                 "--max-length", str(args.max_length), "--normalize", "raw",
                 "--query-tokens", str(work / "query-masks.jsonl")]
    if args.damping != "heuristic":
        score_cmd += ["--damping", str(args.damping)]
    print("+", " ".join(fit_cmd), flush=True)
    fit = run_child(fit_cmd, work / "ours_fit.log")
    print("+", " ".join(score_cmd), flush=True)
    score = run_child(score_cmd, work / "ours_score.log")
    with h5py.File(work / "scores.h5", "r") as f:
        s = f["scores"][...].astype(np.float64)
        qids = [x.decode() if isinstance(x, bytes) else str(x) for x in f["query_ids"][...]]
        dids = [x.decode() if isinstance(x, bytes) else str(x) for x in f["doc_ids"][...]]
    qi = [qids.index(q) for q in query_ids]
    di = [dids.index(d) for d in doc_ids]
    s = s[np.ix_(qi, di)]
    return {"scores": s, "timing": {"fit_wall_s": fit["wall_s"], "fit_peak_rss_mib": fit["peak_rss_mib"],
                                    "score_wall_s": score["wall_s"], "score_peak_rss_mib": score["peak_rss_mib"]}}


# ----------------------------------------------------------------------------- metrics

def rankdata(x):
    """Average ranks (ties share the mean rank)."""

    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    sx = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sx[j + 1] == sx[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j)
        i = j + 1
    return ranks


def pearson(x, y) -> float:

    x = np.asarray(x, np.float64).ravel() - np.mean(x)
    y = np.asarray(y, np.float64).ravel() - np.mean(y)
    return float((x @ y) / math.sqrt((x @ x) * (y @ y)))


def spearman(x, y) -> float:
    try:
        from scipy.stats import spearmanr

        return float(spearmanr(np.ravel(x), np.ravel(y)).statistic)
    except Exception:  # noqa: BLE001 - scipy missing or old: numpy fallback
        return pearson(rankdata(np.ravel(x)), rankdata(np.ravel(y)))


def topk_overlap(a, b, k: int = 10):

    k = min(k, a.shape[1])
    vals = []
    for i in range(a.shape[0]):
        ta = set(np.argsort(-a[i], kind="stable")[:k].tolist())
        tb = set(np.argsort(-b[i], kind="stable")[:k].tolist())
        vals.append(len(ta & tb) / k)
    return float(np.mean(vals)), float(np.min(vals))


def report_agreement(name: str, ref, other) -> None:

    mean, worst = topk_overlap(ref, other)
    rel = float(np.abs(ref - other).max() / max(np.abs(ref).max(), 1e-30))
    per_q = [spearman(ref[i], other[i]) for i in range(ref.shape[0])]
    print(f"{name}: spearman={spearman(ref, other):.6f} pearson={pearson(ref, other):.6f} "
          f"per-query spearman min={min(per_q):.4f} top-10 overlap mean={mean:.3f} min={worst:.3f} "
          f"max|diff|/max|kf|={rel:.2e}")


# ----------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(REPO / "notebooks-data" / "model"))
    ap.add_argument("--corpus", default=None, help="JSON lines {id,text,source}; default notebooks-data/corpus-sample.jsonl")
    ap.add_argument("--docs", type=int, default=64, help="number of documents (first N lines)")
    ap.add_argument("--queries", type=int, default=8, help="number of queries: ceil(M/2) factual + floor(M/2) reasoning")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--work-dir", default="/tmp/kf-compare")
    ap.add_argument("--damping", default="heuristic",
                    help="'heuristic' (kronfluence damping_factor=None: 0.1 x mean(Lambda) per module) or a number")
    ap.add_argument("--fisher", choices=["empirical", "true"], default="empirical")
    ap.add_argument("--measurement", choices=["loss", "loglik"], default="loss",
                    help="kronfluence measurement: summed completion CE (default) or its negative")
    ap.add_argument("--query-rank", type=int, default=None, help="kronfluence query_gradient_low_rank (full SVD)")
    ap.add_argument("--query-tokens", choices=["all", "odd"], default="all",
                    help="completion tokens in each query's loss: all, or the odd-numbered ones (labels -100 elsewhere; "
                         "ours gets the same masks through --query-tokens WORK/query-masks.jsonl)")
    ap.add_argument("--batch-size", type=int, default=8, help="kronfluence per-device batch size (right padding)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads for kronfluence (0 = torch default; 1 avoids OpenMP spin under load)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reference", action="store_true", help="also run the independent torch EK-FAC check")
    ap.add_argument("--ours", action="store_true", help="also run .build/release/influence fit/score and compare")
    ap.add_argument("--ours-bin", default=str(REPO / ".build" / "release" / "influence"),
                    help="our influence executable")
    ap.add_argument("--skip-kronfluence", action="store_true",
                    help="reuse WORK/kronfluence_scores.h5 from an earlier run")
    ap.add_argument("--stage", choices=["fit", "score"], default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.damping != "heuristic":
        float(args.damping)

    if args.stage == "fit":
        return stage_fit(args)
    if args.stage == "score":
        return stage_score(args)

    import h5py

    docs_path, queries_path = prepare_inputs(args)
    doc_ids = [d["id"] for d in read_jsonl(docs_path)]
    query_ids = [q["id"] for q in read_jsonl(queries_path)]
    work = Path(args.work_dir)
    print(f"work dir {work}: {len(doc_ids)} documents, {len(query_ids)} queries, max length {args.max_length}, "
          f"fisher={args.fisher}, damping={args.damping}, measurement={args.measurement}", flush=True)

    if args.skip_kronfluence:
        with h5py.File(work / "kronfluence_scores.h5", "r") as f:
            kf = {"scores": f["scores"][...].astype(np.float64), "timing": dict(f.attrs)}
    else:
        kf = run_kronfluence(args, doc_ids, query_ids)
    t = kf["timing"]
    print(f"kronfluence: fit {t['fit_wall_s']:.2f}s wall ({t['fit_compute_s']:.2f}s fitting: covariance "
          f"{t['fit_covariance_s']:.2f}s, eigh {t['fit_eigendecomposition_s']:.2f}s, lambda {t['fit_lambda_s']:.2f}s), "
          f"score {t['score_wall_s']:.2f}s wall ({t['score_compute_s']:.2f}s in compute_pairwise_scores), "
          f"peak RSS fit {t['fit_peak_rss_mib']:.0f} MiB / score {t['score_peak_rss_mib']:.0f} MiB")
    s = kf["scores"]
    print("sample kronfluence scores (our sign convention), first 4 docs:")
    for i, q in enumerate(query_ids):
        print(f"  {q:24s} " + " ".join(f"{v:+.4e}" for v in s[i, :4]) +
              f"   top doc {doc_ids[int(np.argmax(s[i]))]}")

    if args.reference:
        ref = reference_ekfac(args)
        np.save(work / "reference_scores.npy", ref)
        if args.fisher == "true":
            print("note: true Fisher samples labels at random; the reference cannot match exactly")
        report_agreement("reference torch EK-FAC vs kronfluence", s, ref)

    if args.ours:
        ours = run_ours(args, docs_path, queries_path, doc_ids, query_ids)
        report_agreement("ours vs kronfluence", s, ours["scores"])
        o = ours["timing"]
        rows = [
            ("fit (s)", t["fit_wall_s"], o["fit_wall_s"]),
            ("score (s)", t["score_wall_s"], o["score_wall_s"]),
            ("total (s)", t["fit_wall_s"] + t["score_wall_s"], o["fit_wall_s"] + o["score_wall_s"]),
            ("peak RSS fit (MiB)", t["fit_peak_rss_mib"], o["fit_peak_rss_mib"]),
            ("peak RSS score (MiB)", t["score_peak_rss_mib"], o["score_peak_rss_mib"]),
        ]
        print(f"{'':22s} {'kronfluence':>12s} {'ours':>12s} {'kf/ours':>8s}")
        for name, a, b in rows:
            print(f"{name:22s} {a:12.2f} {b:12.2f} {a / b if b else float('nan'):8.2f}")
        print("(wall times include process start-up and model loading on both sides)")


if __name__ == "__main__":
    main()
