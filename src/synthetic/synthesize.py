"""A calibrated synthetic SurveyXact export (the default input of the book).

The real microdata are confidential. This module generates respondent-level
data shaped like the SPSS export (same columns, codes and value labels as
``data/codebook.yml``, the questionnaire's routing, item non-response) whose
published numbers hold: the counts of the report's tables exactly, its
stated shares to the printed rounding. The targets are read from
``data/reference/published.yml`` (entries with ``calibrated: true``), so no
number is typed twice. What the report does not publish (which industries
are public, how answers co-vary) is an assumption, set out in
``data/reference/synthesis.yml`` (``background:`` for the 4.1 block)
below, and the fidelity score shows which published numbers the data were
*not* calibrated on.

Deterministic: the same seed and size give the same data and, because the
write time in the ``.sav`` header is fixed, the same file bytes.

    python -m src.synthetic.synthesize [--seed N] [--size F] [--out PATH]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from src.analysis import measures as ms
from src.base import paths, reference
from src.base.codebook import Codebook
from src.base.codebook import load as load_codebook
from src.base.inputs import DEFAULT_SEED, fingerprint, fingerprint_file, write_manifest, write_synthetic_record
from src.base.reference import load_published, read_yaml
from src.data import coding
from src.data.cleaning import apply_recodes
from src.data.coding import load_frames
from src.data.export import routed
from src.synthetic import calibrate as cal

FILE_LABEL = "SYNTHETIC calibrated export - not real survey answers"
SAV_TIMESTAMP = b"08 Oct 2400:00:00"  # creation date (9 bytes) + time (8 bytes) in the header


class Targets:
    """Calibration targets read from published.yml."""

    def __init__(self, entries: list[dict]):
        self.by_cell = {}
        self.by_result = {}
        for e in entries:
            lk = e.get("lookup") or {}
            if "table" in lk:
                self.by_cell[(lk["table"], lk["row"], lk["column"])] = e
            elif "result" in lk:
                self.by_result[lk["result"]] = e

    def count(self, table: str, row: str, column: str = "Antall") -> int:
        try:
            return int(self.by_cell[(table, row, column)]["value"])
        except KeyError:
            raise KeyError(f"published.yml lacks the calibration target {table} / '{row}' / '{column}'") from None

    def value(self, result_key: str) -> float:
        try:
            return float(self.by_result[result_key]["value"])
        except KeyError:
            raise KeyError(f"published.yml lacks the calibration target '{result_key}'") from None


def split_counts(
    total: int,
    shares: dict,
) -> dict:
    """Integer counts summing to ``total`` in proportion to ``shares`` (largest remainder)."""
    keys = list(shares)
    w = np.array([float(shares[k]) for k in keys])
    raw = total * w / w.sum()
    base = np.floor(raw).astype(int)
    rest = total - base.sum()
    order = np.argsort(-(raw - base), kind="stable")
    base[order[:rest]] += 1
    return dict(zip(keys, base.tolist()))


def scale(counts: dict, size: float) -> dict:
    """Counts for ``size`` times the respondents (exact at size 1)."""
    if size == 1:
        return dict(counts)
    return split_counts(int(round(sum(counts.values()) * size)), counts)


def assign(
    rng: np.random.Generator, index: pd.Index, counts: dict, score: np.ndarray | None = None, noise: float = 1.0
) -> pd.Series:
    """Give exactly ``counts[code]`` of ``index`` each code.

    Without ``score`` the codes are shuffled at random. With ``score`` the
    respondents are ranked by score plus logistic noise and the codes handed
    out in the order of ``counts`` (first code to the highest scores), which
    keeps the marginal exact while making the variable depend on the score.
    """
    n = len(index)
    if sum(counts.values()) != n:
        raise ValueError(f"counts sum to {sum(counts.values())} but {n} respondents are to be assigned")
    codes = np.concatenate([np.full(k, c, dtype=float) for c, k in counts.items()]) if n else np.array([])
    if score is None:
        return pd.Series(rng.permutation(codes), index=index)
    key = np.asarray(score, dtype=float) + noise * rng.logistic(size=n)
    order = np.argsort(-key, kind="stable")
    out = np.empty(n)
    out[order] = codes
    return pd.Series(out, index=index)


def pick(rng, index: pd.Index, k: int) -> pd.Index:
    """``k`` respondents of ``index`` at random."""
    return pd.Index(rng.choice(index.to_numpy(), size=k, replace=False)) if k else index[:0]


def logit(p):
    p = np.clip(np.asarray(p, dtype=float), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def synthesize(
    seed: int = DEFAULT_SEED, size: float = 1.0, codebook: Codebook | None = None, entries: list[dict] | None = None
) -> pd.DataFrame:
    """The synthetic export as a frame with the export's column names and codes."""
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    cb = codebook or load_codebook()
    t = Targets(entries if entries is not None else load_published())
    rng = np.random.default_rng(seed)
    spec = load_synthesis_spec()
    A = spec["background"]
    V = cb.variables

    # -- who answered: the sample flow of report 4.1 ----------------------
    role_labels = cb.value_labels("role")
    sample_roles = scale({c: t.count("tabell_02", role_labels[c]) for c in (1, 2, 3, 4)}, size)
    untrained = scale(A["untrained_roles"], size)
    n_amu = int(round(t.value("02_sample.n_excluded_amu_only") * size))
    no_role = scale(A["no_role"], size)
    n_total = sum(sample_roles.values()) + sum(untrained.values()) + n_amu + sum(no_role.values())

    df = pd.DataFrame(index=pd.RangeIndex(n_total))
    df["resp_id"] = rng.permutation(np.arange(1, n_total + 1)) + 100000
    role_counts = {c: sample_roles[c] + untrained[c] for c in (1, 2, 3, 4)}
    role_counts.update({5: n_amu, 6: no_role["none"], np.nan: no_role["blank"]})
    df["role"] = assign(rng, df.index, role_counts)

    # -- basic training: partial among the sample, 'no' for the untrained ---
    df["basic_training"] = np.nan
    for code in (1, 2, 3, 4):
        idx = df.index[df["role"] == code]
        no = pick(rng, idx, untrained[code])
        df.loc[no, "basic_training"] = 3
        df.loc[idx.difference(no), "basic_training"] = 1
    sample = df.index[df["basic_training"] == 1]
    n_sample = len(sample)
    share_partial = 100 - t.value("04_training.basic_training_full_pct")  # report 4.3: 92 % all, 8 % partly
    n_partial = int(round(n_sample * share_partial / 100))
    hvo = sample[df.loc[sample, "role"] == 4]
    hvo_partial = pick(rng, hvo, int(round(A["hvo_partial_training"] * size)))
    vo_partial = pick(rng, sample.difference(hvo), n_partial - len(hvo_partial))
    df.loc[hvo_partial.union(vo_partial), "basic_training"] = 2

    # -- background of the analysis sample (report 4.1) ------------------
    def answering(pool: pd.Index, blank: int) -> pd.Index:
        return pool.difference(pick(rng, pool, blank))

    industry_labels = cb.value_labels("industry")
    industry_counts = scale({c: t.count("tabell_03", lab) for c, lab in industry_labels.items()}, size)
    ind_idx = answering(sample, n_sample - sum(industry_counts.values()))
    df["industry"] = np.nan
    df.loc[ind_idx, "industry"] = assign(rng, ind_idx, industry_counts)
    ind11 = df["industry"].map(cb.recodes["industry_11"].map)

    other = df.index[df["industry"] == 30]
    df["industry_other_text"] = pd.Series(pd.NA, index=df.index, dtype="object")
    phrases = A["other_industry_phrases"]
    df.loc[other, "industry_other_text"] = [phrases[i] for i in rng.integers(0, len(phrases), len(other))]

    # Sector: 74/26 among public/private, 1.3 % 'annet' (footnote 19).
    sec_idx = answering(sample, int(round(A["nonresponse"]["sector"] * size)))
    n_other = int(round(len(sec_idx) * t.value("02_sample.sector_other_pct") / 100))
    n_public = int(round((len(sec_idx) - n_other) * t.value("02_sample.sector_public_pct") / 100))
    sector_counts = {1: n_public, 3: n_other, 2: len(sec_idx) - n_public - n_other}
    p_public = df.loc[sec_idx, "industry"].map(A["public_propensity"]).fillna(0.5)
    df["sector"] = np.nan
    df.loc[sec_idx, "sector"] = assign(rng, sec_idx, sector_counts, score=logit(p_public), noise=0.6)

    # Firm size: Tabell 5 exactly; larger firms more common in the public sector.
    size_labels = cb.value_labels("firm_size")
    size_counts = scale({c: t.count("tabell_05", lab, "Antall svar") for c, lab in size_labels.items()}, size)
    size_idx = answering(sample, n_sample - sum(size_counts.values()))
    shift = df.loc[size_idx, "sector"].map(A["large_firm_shift"]).fillna(0).to_numpy()
    largest_first = dict(sorted(size_counts.items(), key=lambda kv: -kv[0]))
    df["firm_size"] = np.nan
    df.loc[size_idx, "firm_size"] = assign(rng, size_idx, largest_first, score=shift, noise=1.0)

    # Gender: 60/40 among those answering.
    gen_idx = answering(sample, int(round(A["nonresponse"]["gender"] * size)))
    n_women = int(round(len(gen_idx) * t.value("02_sample.gender_women_pct") / 100))
    p_female = ind11.loc[gen_idx].map(A["female_propensity"]).fillna(0.6)
    df["gender"] = np.nan
    df.loc[gen_idx, "gender"] = assign(
        rng, gen_idx, {1: n_women, 2: len(gen_idx) - n_women}, score=logit(p_female), noise=0.8
    )

    # Office work: 28 % mainly office work; the other 72 % split (not published).
    off_idx = answering(sample, int(round(A["nonresponse"]["office_work"] * size)))
    n_office = int(round(len(off_idx) * t.value("02_sample.office_work_pct") / 100))
    rest = len(off_idx) - n_office
    p_office = ind11.loc[off_idx].map(A["office_propensity"]).fillna(0.3)
    df["office_work"] = np.nan
    df.loc[off_idx, "office_work"] = assign(
        rng, off_idx, {1: n_office, 2: rest // 2 + rest % 2, 3: rest // 2}, score=logit(p_office), noise=0.8
    )

    # Under 10 employees: was the role established under the 2024 rules?
    small = df.index[df["firm_size"].isin([1, 2])]
    nr_idx = answering(small, min(len(small), int(round(A["nonresponse"]["new_rules_2024"] * size))))
    nr_shares = {
        1: t.value("02_sample.under10_new_rules_pct"),
        2: t.value("02_sample.under10_local_agreement_pct"),
        3: t.value("02_sample.under10_dont_know_pct"),
    }
    df["new_rules_2024"] = np.nan
    df.loc[nr_idx, "new_rules_2024"] = assign(rng, nr_idx, split_counts(len(nr_idx), nr_shares))

    # -- every further question, generically from the published numbers ---
    df, _ = generate_questions(df, cb, entries if entries is not None else load_published(), spec, rng, size)

    # Export order: by respondent id, export column names.
    df = df.sort_values("resp_id").reset_index(drop=True)
    return df.rename(columns={name: v.source for name, v in V.items()})[[v.source for v in V.values()]]


# ---------------------------------------------------------------------------
# The generic engine: questions 4.2-4.13 from published.yml + measures.yml
# ---------------------------------------------------------------------------

SYNTHESIS_SPEC = paths.REFERENCE / "synthesis.yml"


def load_synthesis_spec(path=None) -> dict:
    p = paths.resolve(path) if path else SYNTHESIS_SPEC
    if not p.exists():
        return {"questions": {}, "latents": {}}
    return copy.deepcopy(read_yaml(p)) or {"questions": {}, "latents": {}}


def index_targets(entries: list[dict], cb: Codebook, specs: dict | None = None) -> dict[str, list[tuple[dict, dict]]]:
    """Calibrated published entries by the variable (or grid) they describe: {var: [(entry, spec)]}."""
    specs = specs or reference.load_measures()
    out: dict[str, list] = {}
    for e in entries:
        if not e.get("calibrated") or e.get("flag") == "inconsistent" or e.get("bound"):
            continue
        try:
            spec = ms.resolve(e.get("lookup") or {}, cb, specs)
        except ms.MeasureError:
            continue
        if not spec or spec.get("universe") in ("excluded", "all") and spec.get("stat") == "rows":
            continue
        key = spec.get("var") or spec.get("grid")
        if key:
            out.setdefault(key, []).append((e, spec))
    return out


def _mask(frame: pd.DataFrame, where: str | None, cb: Codebook) -> np.ndarray | None:
    """Boolean mask of ``where`` on the current data; None when it refers to a column not made yet.

    ``measures.where_mask``: evaluated on the columns it names only, and once per frame and content of
    those columns (the items of a grid share their group targets' filters)."""
    if not where:
        return np.ones(len(frame), dtype=bool)
    try:
        return ms.where_mask(frame, where, cb).to_numpy()
    except (KeyError, NameError, pd.errors.UndefinedVariableError):
        return None


def _latent(name: str, frame: pd.DataFrame, spec: dict, cache: dict, rng) -> np.ndarray:
    """A respondent-level trait: standard normal plus shifts by answers already made."""
    if name not in cache:
        lat = (spec.get("latents") or {}).get(name) or {}
        z = rng.normal(size=len(frame))
        for var in lat.get("balance") or []:  # no chance differences between these groups (mean 0 in each)
            if var in frame:
                z = z - pd.Series(z).groupby(frame[var].to_numpy()).transform("mean").fillna(0).to_numpy()
        for var, shifts in (lat.get("shifts") or {}).items():
            if var in frame:
                z = z + frame[var].map({int(k): float(v) for k, v in shifts.items()}).fillna(0).to_numpy(float)
        for other, weight in (lat.get("with") or {}).items():
            z = z + float(weight) * _latent(other, frame, spec, cache, rng)
        cache[name] = z
    return cache[name]


def generate_questions(df: pd.DataFrame, cb: Codebook, entries: list[dict], spec: dict, rng, size: float = 1.0):
    """Generate every question listed in the synthesis spec, in questionnaire order.

    For each variable: who answers (routing, the published n, drop-off by a
    persistence trait), the exact marginal counts (published shares of the
    whole sample), answers ranked by a latent trait so they co-vary, and
    then ``calibrate.refine`` towards the published subgroup statistics. A
    grid item or multi-select option may override the question's spec
    (``items: {<item key>: {latent:, rest:, ...}}``).
    Returns the frame and a calibration report {target: (achieved, published)}.
    """
    index = index_targets(entries, cb)
    latents: dict[str, np.ndarray] = {}
    persistence = rng.normal(size=len(df))
    report = {}
    for qname, qspec in (spec.get("questions") or {}).items():
        qspec = base_spec = qspec or {}
        group = cb.groups.get(qname)
        members = list(group.members) if group else [qname]
        exclusive = f"{qname}_{qspec['exclusive']}" if qspec.get("exclusive") else None
        if exclusive:  # the 'none of these' option first; the others only among those who did not tick it
            members = [exclusive] + [m for m in members if m != exclusive]
        df = df.copy()  # one block per dtype again: many grids add hundreds of columns one by one
        cur = apply_recodes(df, cb)
        n_range = _n_range(index.get(qname, []), size)
        shared_answering = None
        routing_masks = {}
        for k, var in enumerate(members):
            v = cb.variables[var]
            # a grid item / multi option may override the question's spec (``items: {<key>: {...}}``)
            item_spec = (qspec.get("items") or {}).get(var[len(qname) + 1 :]) if group else None
            qspec = {**base_spec, **item_spec} if item_spec else base_spec
            if v.routing not in routing_masks:  # the items of a grid share one routing: evaluate it once
                routing_masks[v.routing] = _mask(cur, cb.expand(v.routing) if v.routing else None, cb)
            routed = routing_masks[v.routing]
            pool = np.flatnonzero(routed)
            if v.type == "text":
                df[var] = _open_answers(cur, pool, qspec, rng)
                continue
            targets = index.get(var, [])
            n = _answer_count(targets, n_range, k, len(members), len(pool), qspec, size)
            order = persistence[pool] + float(qspec.get("nonresponse_noise", 0.3)) * rng.normal(size=len(pool))
            answering = pool[np.argsort(-order, kind="stable")[:n]]
            if group is not None and group.type == "multi":
                # one question: the same respondents answer every option
                shared_answering = answering if shared_answering is None else shared_answering
                answering = shared_answering
            counts = _marginal_counts(var, targets, len(answering), cb, qspec, size, cur, answering)
            if exclusive and var != exclusive:
                ticked_none = answering[cur[exclusive].to_numpy()[answering] == 1]
                answering = answering[cur[exclusive].to_numpy()[answering] != 1]
                k1 = min(counts.get(1, 0), len(answering))
                counts = {1: k1, 0: len(answering) - k1}
            score = None
            if qspec.get("latent"):
                loading = qspec.get("loading", 1.0)
                if isinstance(loading, dict):  # per item of a grid / option of a multi-select, by its name
                    loading = loading.get(var[len(qname) + 1 :], 1.0)
                score = float(loading) * _latent(qspec["latent"], cur, spec, latents, rng)[answering]
            ordered = dict(sorted(counts.items(), key=lambda kv: -kv[0])) if score is not None else counts
            values = np.full(len(df), np.nan)
            values[answering] = assign(
                rng, pd.Index(answering), ordered, score=score, noise=float(qspec.get("noise", 1.0))
            ).to_numpy()
            group_targets = _group_targets(var, targets, cur, cb)
            group_targets += _balance_targets(var, qspec.get("balance"), values, answering, cur, cb)
            if group_targets:
                answered = np.zeros(len(df), dtype=bool)
                answered[answering] = True
                values, rep = cal.refine(
                    values,
                    answered,
                    group_targets,
                    rng,
                    slack=float(qspec.get("slack", 0.35)),
                    kicks=int(qspec.get("kicks", 0)),
                )
                report.update(rep)
            if exclusive and var != exclusive:
                values[ticked_none] = 0
            df[var] = values
            cur[var] = values
        if group is not None and group.type == "multi" and qspec.get("at_least_one") and shared_answering is not None:
            rows = shared_answering
            if exclusive:
                rows = rows[df[exclusive].to_numpy()[rows] != 1]
            options = [m for m in members if m != exclusive]
            df[options] = _at_least_one(df[options].to_numpy(), rows, rng)
        for idx in cb.indices.values():  # index means by group (e.g. Tabell 28): by swapping whole answer rows
            if group is not None and tuple(idx.members) == tuple(group.members) and index.get(idx.name):
                hold = ((spec.get("latents") or {}).get(base_spec.get("latent")) or {}).get("balance") or []
                report.update(_calibrate_index(df, idx, index, cb, rng, hold))
    return df, report


def _group_targets(var: str, targets, cur: pd.DataFrame, cb: Codebook) -> list:
    """The calibration targets of ``var`` within groups (published statistics with a ``where``)."""
    out = []
    for e, sp in targets:
        if not sp.get("where") or sp.get("stat") not in ("pct", "mean", "count"):
            continue
        m = _mask(cur, sp["where"], cb)
        if m is None:
            continue
        valid = list(sp.get("base") or cb.value_labels(var))
        if sp["stat"] == "mean":
            out.append(cal.mean_target(e["id"], m, {c: c for c in valid}, float(e["value"]), float(e["tolerance"])))
        elif sp["stat"] == "pct":
            out.append(
                cal.share_target(e["id"], m, sp.get("codes", []), float(e["value"]), valid, float(e["tolerance"]))
            )
    return out


def _at_least_one(ticks: np.ndarray, rows: np.ndarray, rng) -> np.ndarray:
    """Every respondent in ``rows`` ticks at least one option (a multi-select answer is never empty).

    Moves a tick of the same option from a respondent with two or more ticks
    to one with none, so every option's count stays as published. The donor
    ticks are drawn from those still eligible in row order (a Fenwick tree
    over the eligible ticks, which only ever shrink), so each move costs
    log n instead of a scan of every respondent.
    """
    ticks = ticks.copy()
    sub = np.nan_to_num(ticks[rows]).astype(int)
    width = sub.shape[1]
    row_sum = sub.sum(axis=1)
    eligible = np.flatnonzero(((sub == 1) & (row_sum >= 2)[:, None]).ravel())  # row-major tick positions
    tree = _Fenwick(len(eligible))
    for u in rng.permutation(np.flatnonzero(row_sum == 0)):
        if tree.total == 0:
            break
        k = tree.find(int(rng.integers(tree.total)))
        d, c = divmod(int(eligible[k]), width)
        tree.remove(k)
        sub[d, c], sub[u, c] = 0, 1
        row_sum[d] -= 1
        row_sum[u] += 1
        if row_sum[d] == 1:  # its last tick is no longer a donor
            last = d * width + int(np.flatnonzero(sub[d])[0])
            j = int(np.searchsorted(eligible, last))
            if j < len(eligible) and eligible[j] == last and tree.active(j):
                tree.remove(j)
    ticks[rows] = sub
    return ticks


class _Fenwick:
    """Which of n items are still in (all are at the start); the k-th item still in, in log n."""

    def __init__(self, n: int):
        self.n, self.total = n, n
        self.tree = [0] * (n + 1)
        self.on = bytearray(b"\x01") * n
        for i in range(1, n + 1):
            self.tree[i] += 1
            j = i + (i & -i)
            if j <= n:
                self.tree[j] += self.tree[i]

    def active(self, i: int) -> bool:
        return bool(self.on[i])

    def remove(self, i: int) -> None:
        self.on[i] = 0
        self.total -= 1
        i += 1
        while i <= self.n:
            self.tree[i] -= 1
            i += i & -i

    def find(self, k: int) -> int:
        """Index of the (k+1)-th item still in (k counted from 0)."""
        pos, step = 0, 1 << self.n.bit_length()
        while step:
            nxt = pos + step
            if nxt <= self.n and self.tree[nxt] <= k:
                pos, k = nxt, k - self.tree[nxt]
            step >>= 1
        return pos


def _calibrate_index(df: pd.DataFrame, idx, index: dict, cb: Codebook, rng, hold=()) -> dict:
    """Move an index's group means to the published ones by swapping respondents' whole answer rows.

    An index (the mean of a grid's items) is not a question, so the item swaps
    cannot reach its group means. Swapping all of two respondents' answers to
    the grid keeps every item's marginal and the items' correlations (hence
    Cronbach's alpha); the items' own group targets are then refined again.
    The index means of the groups of ``hold`` (the latent's balanced groups)
    are kept as they were, so the swaps add no chance difference between them.
    """
    members = list(idx.members)
    cur = apply_recodes(df, cb)
    raw = df[members].to_numpy(float)
    valid = np.column_stack([np.isin(raw[:, j], list(cb.value_labels(m))) for j, m in enumerate(members)])
    complete = valid.sum(axis=1) >= idx.min_items
    if complete.sum() < 2:
        return {}
    rows, pattern = np.unique(np.nan_to_num(raw[complete], nan=-1.0), axis=0, return_inverse=True)
    pattern = np.asarray(pattern).reshape(-1)
    row_valid = np.column_stack([np.isin(rows[:, j], list(cb.value_labels(m))) for j, m in enumerate(members)])
    score = np.nanmean(np.where(row_valid, rows, np.nan), axis=1)
    scale = {p: float(sc) for p, sc in enumerate(score)}
    targets = []
    for e, sp in index[idx.name]:
        m = _mask(cur, sp.get("where"), cb) if sp.get("where") and sp.get("stat") == "mean" else None
        if m is not None:
            targets.append(cal.mean_target(e["id"], m, scale, float(e["value"]), float(e["tolerance"])))
    if not targets:
        return {}
    values = np.full(len(df), np.nan)
    values[complete] = pattern
    index_now = pd.Series(np.where(complete, score[np.where(complete, values, 0).astype(int)], np.nan))
    for var in hold:
        for code, mean in index_now.groupby(cur[var].to_numpy()).mean().items():
            targets.append(
                cal.mean_target(
                    f"hold {var}={code}", (cur[var] == code).fillna(False).to_numpy(), scale, float(mean), 0.01
                )
            )
    values, report = cal.refine(values, complete, targets, rng)
    report = {k: v for k, v in report.items() if not k.startswith("hold ")}
    new = rows[values[complete].astype(int)]
    df.loc[complete, members] = np.where(new == -1.0, np.nan, new)
    cur = apply_recodes(df, cb)
    for m in members:  # the rows moved: the items' own group targets again
        group_targets = _group_targets(m, index.get(m, []), cur, cb)
        if group_targets:
            values, rep = cal.refine(df[m].to_numpy(float), df[m].notna().to_numpy(), group_targets, rng)
            df[m] = values
            report.update(rep)
    return report


def _balance_targets(
    var: str, balance, values: np.ndarray, answering: np.ndarray, cur: pd.DataFrame, cb: Codebook
) -> list:
    """Targets that make the answers independent of the ``balance`` variables.

    Where the report says there is no difference between groups (e.g. no
    sector difference in how useful mixed roles were), the generator's
    traits can still create one through other variables (those who attend
    with colleagues differ by sector). Each group of a balance variable gets
    the overall mean of the answers as its target, within a tenth of a scale
    point, so any difference left is sampling noise. An assumption, said in
    synthesis.yml.
    """
    if not balance:
        return []
    valid = list(cb.value_labels(var))
    vals = values[answering]
    ok = np.isin(vals, valid)
    if not ok.any():
        return []
    overall = float(vals[ok].mean())
    out = []
    for bvar in [balance] if isinstance(balance, str) else balance:
        for code in cb.value_labels(bvar):
            mask = (cur[bvar] == code).fillna(False).to_numpy(bool)
            out.append(cal.mean_target(f"balance:{var}:{bvar}={code}", mask, {c: c for c in valid}, overall, 0.05))
    return out


def _open_answers(cur: pd.DataFrame, pool: np.ndarray, qspec: dict, rng) -> pd.Series:
    """Short, non-identifying phrases for an open question, by coded theme where one is given."""
    out = pd.Series(pd.NA, index=cur.index, dtype="object")
    phrases = qspec.get("phrases") or []
    if qspec.get("text_for"):
        codes = cur[qspec["text_for"]].to_numpy()
        for i in pool:
            if codes[i] == codes[i]:  # answered
                options = phrases.get(int(codes[i])) or phrases.get(str(int(codes[i])))
                if not options:  # a theme written in another open field: nothing here
                    continue
                out.iloc[i] = options[rng.integers(len(options))]
        return out
    if phrases:
        n = int(round(len(pool) * float(qspec.get("answer_rate", 1.0))))
        for i in pool[:n]:
            out.iloc[i] = phrases[rng.integers(len(phrases))]
    return out


def _n_range(targets: list[tuple[dict, dict]], size: float) -> tuple[int, int] | None:
    lo = hi = None
    for e, sp in targets:
        if sp.get("stat") == "n_min":
            lo = int(round(e["value"] * size))
        if sp.get("stat") == "n_max":
            hi = int(round(e["value"] * size))
    return (lo, hi) if lo is not None and hi is not None else None


def _answer_count(targets, n_range, k: int, n_items: int, n_routed: int, qspec: dict, size: float) -> int:
    """How many of the routed respondents answer this variable."""
    for e, sp in targets:
        if sp.get("stat") == "n" and not sp.get("where"):
            return min(n_routed, int(round(e["value"] * size)))
    if n_range:
        lo, hi = n_range
        if "n" in qspec:  # an item's assumed n inside the printed range
            return min(n_routed, max(lo, min(hi, int(round(qspec["n"] * size)))))
        n = hi - (hi - lo) * k // max(1, n_items - 1)
        return min(n_routed, n)
    if "n" in qspec:
        return min(n_routed, int(round(qspec["n"] * size)))
    return int(round(n_routed * float(qspec.get("answer_rate", 1.0))))


def _marginal_counts(
    var: str,
    targets,
    n: int,
    cb: Codebook,
    qspec: dict,
    size: float,
    cur: pd.DataFrame | None = None,
    answering: np.ndarray | None = None,
) -> dict:
    """Exact answer counts for the whole sample.

    Published counts are kept as they are; published shares of the whole
    sample become counts on ``n``; where the report gives only subgroup shares
    (e.g. AMU membership 22 % of VO, 93 % of HVO) the marginal they imply is
    used (where both are printed, the whole-sample share moves within its
    printing tolerance towards the implied one); a printed share of several
    codes (e.g. 'i stor' + 'i svært stor grad') is split among them by the
    ``rest`` weights; codes with nothing published share the rest (weights
    ``rest``, or the spec's ``shares``).
    """
    codes = list(cb.value_labels(var, with_missing=True))
    fixed, shares, merged, tolerance = {}, {}, [], {}
    for e, sp in targets:
        if sp.get("where") or sp.get("base"):
            continue
        if sp.get("stat") == "pct" and len(sp.get("codes", [])) > 1:  # e.g. 'i stor' + 'i svært stor grad'
            merged.append((list(sp["codes"]), float(e["value"])))
        if len(sp.get("codes", [])) != 1:
            continue
        code = sp["codes"][0]
        if sp.get("stat") == "count":
            fixed[code] = int(round(e["value"] * size))
        elif sp.get("stat") == "pct":
            shares[code] = float(e["value"])
            tolerance[code] = float(e.get("tolerance") or 0)
    if cur is not None and answering is not None:
        for code, share in _implied_shares(targets, cur, answering, cb).items():
            if code in tolerance:  # printed share and subgroup shares: within the printing, towards the latter
                t = 0.8 * tolerance[code]
                shares[code] = min(max(share, shares[code] - t), shares[code] + t)
            shares.setdefault(code, share)
    in_merged = {c for group, _ in merged for c in group}
    for c, w in (qspec.get("shares") or {}).items():
        if int(c) not in in_merged:
            shares.setdefault(int(c), float(w))
    counts = dict(fixed)
    for c, share in shares.items():
        if c not in counts:
            counts[c] = int(round(n * share / 100))
    weights = qspec.get("rest") or {}
    for group, share in merged:  # a published share of several codes, split by the ``rest`` weights
        free = [c for c in group if c not in counts]
        if free:
            total = max(0, int(round(n * share / 100)) - sum(counts.get(c, 0) for c in group))
            counts.update(split_counts(total, {c: float(weights.get(c, 1)) for c in free}))
    rest = [c for c in codes if c not in counts]
    left = n - sum(counts.values())
    if rest and left >= 0:
        counts.update(split_counts(left, {c: float(weights.get(c, 1)) for c in rest}))
    elif left != 0:
        free = [c for c in counts if c not in fixed] or list(counts)
        big = max(free, key=lambda c: counts[c])
        counts[big] += left
    return {c: max(0, counts.get(c, 0)) for c in codes}


def _implied_shares(targets, cur: pd.DataFrame, answering: np.ndarray, cb: Codebook) -> dict:
    """Whole-sample shares implied by subgroup shares whose groups split the answering respondents."""
    by_code: dict[int, list] = {}
    for e, sp in targets:
        if sp.get("stat") == "pct" and sp.get("where") and not sp.get("base") and len(sp.get("codes", [])) == 1:
            m = _mask(cur, sp["where"], cb)
            if m is not None:
                by_code.setdefault(sp["codes"][0], []).append((m[answering], float(e["value"])))
    out = {}
    for code, parts in by_code.items():
        masks = np.array([m for m, _ in parts])
        if masks.sum(axis=0).max() <= 1 and masks.any(axis=0).mean() >= 0.95:  # a partition
            out[code] = float(sum(m.sum() * v for m, v in parts) / masks.any(axis=0).sum())
    return out


# The metadata columns a SurveyXact export carries besides the answers (survey.ignore_columns in the
# codebook: the reader skips them). Status codes and labels as the tool writes them.
STATUS_COLUMN, START_COLUMN, END_COLUMN = "status", "starttime", "endtime"
STATUS_LABELS = {1.0: "Gjennomført", 2.0: "Delvis besvart"}
FIELDWORK = ("2024-09-02 07:00", "2024-10-08 20:00")  # uke 36–42 2024 (codebook survey.fieldwork)
METADATA_SEED = 20241008  # the metadata's own random stream: the answers never depend on it


def variable_label(var, cb: Codebook) -> str:
    """The export's variable label: «stem – item» for a grid item or a tick box (the question alone would
    be shared by every item), the question for the rest. At most 255 bytes, as SPSS keeps."""
    group = cb.groups.get(var.group) if var.group else None
    stem = (group.question or group.label) if group is not None else None
    if stem and stem != var.label:
        text = f"{stem} – {var.label}"
    elif var.question and sum(v.question == var.question for v in cb.variables.values()) > 1:
        text = f"{var.label} – {var.question}"  # a generic prompt («Annet, beskriv:») shared by several
    else:
        text = var.question or var.label
    if len(text.encode("utf-8")) > 255:
        while len((text + "…").encode("utf-8")) > 255:
            text = text[:-1]
        text = text.rstrip() + "…"
    return text


def measure_level(var) -> str:
    """SPSS measurement level: the id 'scale', a point on a named ordered scale (grid items) 'ordinal',
    every other code 'nominal'."""
    if var.type == "id":
        return "scale"
    if var.scale:
        return "ordinal"
    return "nominal"


def _whole_codes(col: pd.Series) -> bool:
    num = pd.to_numeric(col, errors="coerce")
    return bool(pd.api.types.is_numeric_dtype(col) and (num.dropna() == np.floor(num.dropna())).all())


def _format(col: pd.Series) -> str:
    """An integer SPSS format wide enough for the column's codes: F1.0 for 1–9, F6.0 for an id 100451."""
    num = pd.to_numeric(col, errors="coerce").dropna()
    width = max([len(str(int(v))) for v in (num.min(), num.max())] if len(num) else [1])
    return f"F{width}.0"


def response_metadata(frame: pd.DataFrame, cb: Codebook) -> pd.DataFrame:
    """Status (complete / partial) and start and end time per respondent, as the survey tool records them.

    Complete: the respondent answered the last question the routing asked them
    (those who stopped earlier are partial); the times are drawn from their own
    random stream within the fieldwork, a partial answer ending sooner.
    """
    by_source = cb.by_source()
    data = pd.DataFrame(
        {
            v.name: pd.to_numeric(frame[s], errors="coerce")
            for s, v in by_source.items()
            if s in frame and v.type not in ("text",)
        },
        index=frame.index,
    )
    n = len(frame)
    last_asked, last_answered = np.full(n, -1), np.full(n, -1)
    asked_by: dict[str, np.ndarray] = {}
    for pos, (source, var) in enumerate(by_source.items()):
        if source not in frame or var.type in ("id", "text"):
            continue
        if var.routing not in asked_by:
            try:
                asked_by[var.routing] = routed(data, cb, var.name).to_numpy()
            except Exception:  # a column the routing names is absent (a trimmed export): asked of no one
                asked_by[var.routing] = np.zeros(n, dtype=bool)
        last_asked[asked_by[var.routing]] = pos
        last_answered[frame[source].notna().to_numpy()] = pos
    complete = last_answered >= last_asked
    rng = np.random.default_rng(METADATA_SEED)
    start0, end0 = (pd.Timestamp(t) for t in FIELDWORK)
    start = start0 + pd.to_timedelta(rng.uniform(0, (end0 - start0).total_seconds(), n).round(), unit="s")
    minutes = np.exp(rng.normal(np.log(13), 0.45, n)) * np.where(complete, 1.0, rng.uniform(0.1, 0.8, n))
    end = start + pd.to_timedelta((60 * minutes).round(), unit="s")
    return pd.DataFrame(
        {STATUS_COLUMN: np.where(complete, 1.0, 2.0), START_COLUMN: start.to_numpy(), END_COLUMN: end.to_numpy()},
        index=frame.index,
    )


def write_sav(frame: pd.DataFrame, path: str | Path, codebook: Codebook | None = None) -> str:
    """Write the export as SurveyXact's SPSS export looks; return its sha256.

    Variable labels «stem – item» (``variable_label``), value labels, the
    codebook's missing codes declared as user-missing values, measurement
    levels (``measure_level``), integer formats (F1.0, not F8.2), row
    compression, and the tool's metadata columns (respondent status, start
    and end time) after the answers. Columns the codebook does not know, or
    whose values are not whole codes, are written as they are.
    """
    import pyreadstat

    cb = codebook or load_codebook()
    path = paths.resolve(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    by_source = {s: v for s, v in cb.by_source().items() if s in frame}
    out = frame.copy()
    meta = response_metadata(frame, cb)
    for c in meta:
        if c not in out:
            out[c] = meta[c]
    labels = {s: variable_label(v, cb) for s, v in by_source.items()}
    labels.update(
        {STATUS_COLUMN: "Status for besvarelsen", START_COLUMN: "Starttidspunkt", END_COLUMN: "Sluttidspunkt"}
    )
    value_labels = {s: {float(k): lab for k, lab in v.values.items()} for s, v in by_source.items() if v.values}
    value_labels[STATUS_COLUMN] = STATUS_LABELS
    numeric = [s for s in by_source if by_source[s].type != "text" and _whole_codes(out[s])]
    missing = {s: [float(c) for c in by_source[s].missing] for s in numeric if by_source[s].missing}
    measure = {s: measure_level(v) for s, v in by_source.items()}
    measure.update({STATUS_COLUMN: "nominal", START_COLUMN: "scale", END_COLUMN: "scale"})
    formats = {s: _format(out[s]) for s in numeric}
    formats[STATUS_COLUMN] = "F1.0"
    tmp = path.with_name(f".{path.name}.tmp")
    pyreadstat.write_sav(
        out,
        str(tmp),
        file_label=FILE_LABEL,
        column_labels=labels,
        variable_value_labels=value_labels,
        missing_ranges=missing,
        variable_measure=measure,
        variable_format=formats,
        row_compress=True,
    )
    data = bytearray(tmp.read_bytes())
    data[92 : 92 + len(SAV_TIMESTAMP)] = SAV_TIMESTAMP  # no write time in the file: same data, same bytes
    tmp.write_bytes(bytes(data))
    tmp.replace(path)
    return hashlib.sha256(bytes(data)).hexdigest()


def without_coded_columns(frame: pd.DataFrame, codebook: Codebook | None = None) -> pd.DataFrame:
    """The export as SurveyXact gives it: free text, but none of the coded theme columns (``s_17_kode`` …).

    ``synthesize`` makes the theme each open answer was written for (the
    generator's truth); a real export has only the text, coded by
    src/data/coding.py and the researcher's review.
    """
    cb = codebook or load_codebook()
    coded = [cb.variables[name].source for name in load_frames(cb)]
    return frame.drop(columns=[c for c in coded if c in frame])


def write_synthetic_reviews(out: str | Path, frame: pd.DataFrame, codebook: Codebook | None = None) -> list[Path]:
    """The review sheets of the synthetic export, the researcher's column filled in with the intended theme.

    The generator owns these sheets (its answers change with its inputs): they
    are written afresh. So the default build takes every theme from a
    completed review, as the report did, and the agreement figures measure the
    rules against the theme each answer was written for.
    """
    cb = codebook or load_codebook()
    folder = paths.review_dir(out)
    for old in folder.glob("*.csv") if folder.is_dir() else []:
        old.unlink()
    frames = coding.load_frames(cb)
    names = [cb.id] + [t for f in frames.values() for t in f.texts] + list(frames)
    data = frame[[cb.variables[n].source for n in names]].set_axis(names, axis=1)
    coding.write_review_sheets(out, data, cb)
    return coding.sheet_files(out)


def generate(out: str | Path = paths.SYNTHETIC_EXPORT, seed: int = DEFAULT_SEED, size: float = 1.0) -> Path:
    """Synthesize, write the .sav (free text, no coded columns) and its review sheets, record it in the manifest."""
    out = paths.resolve(out)
    frame = synthesize(seed=seed, size=size)
    digest = write_sav(without_coded_columns(frame), out)
    write_synthetic_reviews(out, frame)
    fingerprint_file(out).write_text(fingerprint(seed, size) + "\n", encoding="utf-8")
    write_synthetic_record(out, FILE_LABEL, seed, size)  # what makes it synthetic: these bytes, this label
    if out.parent == paths.RAW:
        write_manifest({out.name: digest})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--size", type=float, default=1.0, help="respondents as a multiple of the report's 2950")
    ap.add_argument("--out", default=str(paths.SYNTHETIC_EXPORT))
    args = ap.parse_args(argv)
    out = generate(args.out, args.seed, args.size)
    print(f"wrote {paths.relative(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
