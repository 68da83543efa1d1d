"""The audit's HTML report: findings, per-task money, payouts and settlement (rounds, disputes,
rulings, bond movements), the committee's bonds, and three embedded plots."""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Any

from labelproof.audit.model import CHECKS, AuditResult, TaskSummary


def _units(amount: int, decimals: int) -> float:
    return amount / 10**decimals


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float, height: float) -> Any:
    # The object-oriented API with the Agg canvas: no pyplot global state, no display needed,
    # safe to call from any thread of a server.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


MAX_PANELS = 12


def plot_payout_vs_quality(result: AuditResult) -> str:
    """One panel per scored task: each annotator's payout against its quality (base64 PNG)."""
    scored = [t for t in result.tasks if t.rows][:MAX_PANELS]
    cols = max(1, min(3, len(scored)))
    nrows = max(1, math.ceil(len(scored) / cols))
    fig = _figure(4.2 * cols, 3.4 * nrows)
    if not scored:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no scored task", ha="center", va="center")
        ax.set_axis_off()
        return _png(fig)
    for i, t in enumerate(scored):
        ax = fig.add_subplot(nrows, cols, i + 1)
        q = [r.quality for r in t.rows]
        pay = [_units(r.payout, t.decimals) for r in t.rows]
        colors = ["#2e7d32" if r.claimed else "#1f77b4" if r.payout else "#9e9e9e" for r in t.rows]
        ax.scatter(q, pay, c=colors, s=30, alpha=0.8, edgecolors="black", linewidths=0.4)
        if t.min_quality is not None:
            ax.axvline(t.min_quality, color="#c62828", linestyle="--", linewidth=1)
        ax.set_title(f"task {t.task_id} ({t.rows_source})", fontsize=9)
        ax.set_xlabel("quality", fontsize=8)
        ax.set_ylabel(f"payout ({t.symbol})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle("Payout against quality (green: claimed, red line: minimum quality)", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def plot_payout_distribution(result: AuditResult) -> str:
    """Histogram of the positive payouts, stacked by task (base64 PNG)."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(7, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    series = [
        (t, [_units(r.payout, t.decimals) for r in t.rows if r.payout > 0]) for t in result.tasks
    ]
    series = [(t, v) for t, v in series if v]
    if not series:
        ax.text(0.5, 0.5, "no payouts", ha="center", va="center")
        ax.set_axis_off()
        return _png(fig)
    values = [v for _, v in series]
    labels = [f"task {t.task_id}" for t, _ in series]
    ax.hist(
        values,
        bins=min(30, max(5, sum(len(v) for v in values) // 2)),
        stacked=True,
        label=labels,
        edgecolor="white",
    )
    ax.set_xlabel("payout (token units)")
    ax.set_ylabel("annotators")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of annotators
    ax.set_title("Distribution of payouts")
    if len(series) <= 10:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def plot_money_flow(result: AuditResult) -> str:
    """Per task: paid (claimed), refunded and held as shares of the funded budget, with the
    budget written above each bar (base64 PNG). Shares, not amounts, because tasks may be
    paid in different tokens whose units do not add up on one axis."""
    tasks = result.tasks
    fig = _figure(max(6.0, 0.7 * len(tasks) + 2.5), 4.0)
    ax = fig.add_subplot(1, 1, 1)
    if not tasks:
        ax.text(0.5, 0.5, "no tasks", ha="center", va="center")
        ax.set_axis_off()
        return _png(fig)
    x = list(range(len(tasks)))

    def share(amount: int, t: TaskSummary) -> float:
        return 100.0 * amount / t.funded if t.funded else 0.0

    paid = [share(t.claimed, t) for t in tasks]
    refunded = [share(t.refunded, t) for t in tasks]
    held = [share(t.held, t) for t in tasks]
    width = 0.6
    ax.bar(x, paid, width, color="#2e7d32", label="paid (claimed)")
    ax.bar(x, refunded, width, bottom=paid, color="#f9a825", label="refunded")
    below = [p + r for p, r in zip(paid, refunded, strict=True)]
    ax.bar(x, held, width, bottom=below, color="#1565c0", label="held")
    for i, t in enumerate(tasks):
        funded = f"{_units(t.funded, t.decimals):,.6g} {t.symbol}"
        ax.text(i, 101.5, funded, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [f"{t.task_id}\n{t.status}" for t in tasks], fontsize=7)
    ax.set_xlim(-0.7, len(tasks) - 0.3)
    ax.set_ylim(0, 125)  # headroom for the budget labels and the legend
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.set_xlabel("task")
    ax.set_ylabel("% of funded")
    ax.set_title("Money flow per task: funded = paid + refunded + held")
    ax.legend(fontsize=7, ncol=3, loc="upper center")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _png(fig)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:1.6em}
.ok{background:#e8f5e9;border:1px solid #2e7d32;color:#1b5e20;padding:.8em;border-radius:4px}
.bad{background:#ffebee;border:1px solid #c62828;color:#b71c1c;padding:.8em;border-radius:4px}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f5f5f5} td.l,th.l{text-align:left}
code{font-size:.9em} img{max-width:100%;border:1px solid #eee}
"""


def render_html(result: AuditResult) -> str:
    """A self-contained page: findings, per-task money and payouts, three embedded plots."""
    e = html.escape
    plots = [
        ("plot-payout-quality", "Payout against quality", plot_payout_vs_quality(result)),
        ("plot-payout-distribution", "Distribution of payouts", plot_payout_distribution(result)),
        ("plot-money-flow", "Money flow per task", plot_money_flow(result)),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>labelproof audit: escrow {e(result.escrow)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>labelproof audit</h1>",
        f"<p>Chain {result.chain_id}, escrow <code>{e(result.escrow)}</code>, events from block "
        f"{result.from_block}, state at block {result.block}. Published data: "
        f"{e(result.source or 'not checked')}.</p>",
        '<h2 id="findings">Findings</h2>',
    ]
    if result.ok:
        parts.append(
            f'<div class="ok">All checks hold for {len(result.tasks)} task(s): '
            f"{e(', '.join(CHECKS))}.</div>"
        )
    else:
        parts.append(f'<div class="bad">{len(result.findings)} finding(s):<ul>')
        parts.extend(f"<li><code>{e(f.line())}</code></li>" for f in result.findings)
        parts.append("</ul></div>")
    parts.append("<h2>Tasks</h2><table><tr>")
    heads = [
        "task",
        "status",
        "token",
        "funded",
        "paid",
        "refunded",
        "held",
        "posted",
        "paid annotators",
        "published",
        "settlement",
        "checks",
    ]
    text_columns = {"status", "token", "posted", "published", "settlement", "checks"}
    parts.extend(f'<th class="{"l" if h in text_columns else ""}">{e(h)}</th>' for h in heads)
    parts.append("</tr>")
    for t in result.tasks:
        bad = sorted({f.check for f in result.findings_for(t.task_id)})
        posted = "-" if t.posted is None else f"{t.posted.kind} {t.posted.root[:10]}…"
        cells = [
            str(t.task_id),
            t.status,
            t.symbol,
            _fmt(t.funded, t.decimals),
            _fmt(t.claimed, t.decimals),
            _fmt(t.refunded, t.decimals),
            _fmt(t.held, t.decimals),
            posted,
            str(t.paid_annotators),
            t.published + (f" (gold {t.gold})" if t.gold == "withheld" else ""),
            "-" if t.settlement is None else t.settlement.describe(),
            "ok" if not bad else "failed: " + ", ".join(bad),
        ]
        parts.append("<tr>")
        for h, c in zip(heads, cells, strict=True):
            cls = "l" if h in text_columns else ""
            parts.append(f'<td class="{cls}">{e(c)}</td>')
        parts.append("</tr>")
    parts.append("</table>")
    if result.tokens:
        parts.append("<h2>Escrow balance per token</h2><table><tr>")
        parts.append('<th class="l">token</th><th>balance</th><th>owed</th><th>tasks</th></tr>')
        for tok in result.tokens:
            parts.append(
                f'<tr><td class="l"><code>{e(tok.token)}</code> {e(tok.symbol)}</td>'
                f"<td>{e(_fmt(tok.balance, tok.decimals))}</td>"
                f"<td>{e(_fmt(tok.owed, tok.decimals))}</td><td>{tok.tasks}</td></tr>"
            )
        parts.append("</table>")
    if result.bonds:
        parts.append(
            "<h2>Committee bonds per token</h2><p>The committee must hold its stake plus every "
            "bond locked behind a pending proposal or an open dispute.</p><table><tr>"
        )
        parts.append(
            '<th class="l">token</th><th>balance</th><th>stake</th><th>locked</th>'
            "<th>surplus</th></tr>"
        )
        for b in result.bonds:
            parts.append(
                f'<tr><td class="l"><code>{e(b.token)}</code> {e(b.symbol)}</td>'
                f"<td>{e(_fmt(b.balance, b.decimals))}</td><td>{e(_fmt(b.stake, b.decimals))}</td>"
                f"<td>{e(_fmt(b.locked, b.decimals))}</td>"
                f"<td>{e(_fmt(b.surplus, b.decimals))}</td></tr>"
            )
        parts.append("</table>")
    parts.extend(_settlement_sections(result))
    parts.append("<h2>Plots</h2>")
    for pid, title, png in plots:
        parts.append(
            f'<figure id="{pid}"><img alt="{e(title)}" src="data:image/png;base64,{png}">'
            f"<figcaption>{e(title)}</figcaption></figure>"
        )
    for t in result.tasks:
        if not t.rows:
            continue
        parts.append(
            f"<h2>Task {t.task_id}: quality and payout ({e(t.rows_source or '')})</h2><table>"
            '<tr><th class="l">annotator</th><th>labels</th><th>quality</th>'
            f"<th>payout ({e(t.symbol)})</th><th>claimed</th></tr>"
        )
        for r in t.rows:
            parts.append(
                f'<tr><td class="l"><code>{e(r.account)}</code></td><td>{r.labels}</td>'
                f"<td>{r.quality:.4f}</td><td>{e(_fmt(r.payout, t.decimals))}</td>"
                f"<td>{e(_fmt(r.claimed, t.decimals))}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _fmt(amount: int, decimals: int) -> str:
    return f"{_units(amount, decimals):,.4f}"


def write_html(result: AuditResult, path: Path | str) -> Path:
    """Write :func:`render_html` to `path` and return it."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(result), encoding="utf-8")
    return out


def _settlement_sections(result: AuditResult) -> list[str]:
    """Per task with any settlement activity: its proposals (who, bond, outcome), disputes with
    their verdicts, and every bond movement."""
    e = html.escape
    decimals = {b.token: b.decimals for b in result.bonds}
    symbols = {b.token: b.symbol for b in result.bonds}
    parts: list[str] = []
    for t in result.tasks:
        s = t.settlement
        if s is None or not (s.proposals or s.disputes or s.bonds or s.vetoes or s.restarts):
            continue
        bond_decimals = decimals.get(s.bond_token or "", 18)
        parts.append(
            f'<h2 id="settlement-{t.task_id}">Task {t.task_id}: settlement (rule set '
            f"{s.rules_id}, {s.rounds} round(s), {s.votes} oracle vote(s))</h2>"
        )
        if s.proposals:
            parts.append(
                '<table><tr><th>round</th><th class="l">proposed by</th><th>bond</th>'
                f"<th>total ({e(t.symbol)})</th>"
                '<th class="l">inputs hash</th><th class="l">outcome</th></tr>'
            )
            for p in s.proposals:
                who = "committee (stake)" if p.proposer is None else f"bonded: {p.proposer}"
                parts.append(
                    f'<tr><td>{p.round}</td><td class="l"><code>{e(who)}</code></td>'
                    f"<td>{e(_fmt(p.bond, bond_decimals))}</td>"
                    f"<td>{e(_fmt(p.total, t.decimals))}</td>"
                    f'<td class="l"><code>{e(p.inputs_hash[:18])}…</code></td>'
                    f'<td class="l">{e(p.outcome)}</td></tr>'
                )
            parts.append("</table>")
        for v in s.vetoes:
            parts.append(
                f"<p>Round {v['round']} vetoed by the guardian <code>{e(v['guardian'])}</code>: "
                f"{e(v['reason'])}</p>"
            )
        if s.restarts:
            rounds = ", ".join(str(r) for r in s.restarts)
            parts.append(f"<p>Round(s) {e(rounds)} restarted (no payout could pass).</p>")
        if s.disputes:
            parts.append(
                '<table><tr><th>round</th><th>dispute</th><th class="l">disputer</th>'
                '<th>bond</th><th class="l">verdict</th></tr>'
            )
            for d in s.disputes:
                parts.append(
                    f"<tr><td>{d.round}</td><td>{d.dispute_id}</td>"
                    f'<td class="l"><code>{e(d.disputer)}</code></td>'
                    f"<td>{e(_fmt(d.bond, bond_decimals))}</td>"
                    f'<td class="l">{e(d.verdict or "not ruled yet")}</td></tr>'
                )
            parts.append("</table>")
        if s.bonds:
            parts.append(
                '<table><tr><th class="l">bond moved to</th><th>amount</th>'
                '<th class="l">by</th></tr>'
            )
            for b in s.bonds:
                amount = _fmt(b.amount, decimals.get(b.token, 18))
                parts.append(
                    f'<tr><td class="l"><code>{e(b.label)}</code></td>'
                    f"<td>{e(amount)} {e(symbols.get(b.token, ''))}</td>"
                    f'<td class="l">{e(b.cause)}</td></tr>'
                )
            parts.append("</table>")
    return parts
