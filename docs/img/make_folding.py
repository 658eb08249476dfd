"""Draws docs/img/folding.svg, the picture of `HwConfig`'s folding in docs/tiled-datapath.md.

A 64 x 64 weight matrix cut into PE x SIMD = 8 x 10 tiles (the tiled datapath, ``HwConfig(pe=8, simd=10)``)
and into words of P = 8 weights of a row (the P-lane datapath, ``HwConfig(mac_lanes=8)``, folding 1 x 8),
with the two readings of one tile or word: bottom-up (W s) and top-down (W^T s, the same weights read
transposed). Run ``.venv/bin/python docs/img/make_folding.py`` after changing it; it rewrites the SVG only.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")   # no display: the figure goes to a file
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

OUT = Path(__file__).with_name("folding.svg")
N = 64                 # the matrix, n_{l+1} x n_l
PE, SIMD = 8, 10       # the tile
P = 8                  # the lanes
TILE = (2, 3)          # the highlighted tile: block a of rows, block c of columns
WORD = (20, 3)         # the highlighted word: row r, word c (columns c P .. c P + P - 1)
HI, HI_EDGE, PAD = "#f6b26b", "#b45f06", "#eeeeee"
W_CELL, STATE, SUM = "#fce5cd", "#cfe2f3", "#d9ead3"


def _matrix(ax, rows_per_cell: int, cols_per_cell: int, hi: tuple[int, int, int, int], title: str,
            ylabel: str, xlabel: str, padded: int) -> None:
    """The 64 x 64 matrix with its cut lines and one highlighted piece (row0, col0, rows, cols)."""
    ax.add_patch(Rectangle((0, 0), N, N, facecolor="white", edgecolor="black", lw=1.2))
    if padded > N:
        ax.add_patch(Rectangle((N, 0), padded - N, N, facecolor=PAD, edgecolor="grey", lw=0.6, hatch="///"))
        ax.text(N + (padded - N) / 2, -1.5, "zeros", ha="center", va="bottom", fontsize=7, color="grey")
    for y in range(rows_per_cell, N, rows_per_cell):
        ax.plot([0, padded], [y, y], color="grey", lw=0.4 if rows_per_cell == 1 else 0.7)
    for x in range(cols_per_cell, padded, cols_per_cell):
        ax.plot([x, x], [0, N], color="grey", lw=0.7)
    r0, c0, nr, nc = hi
    ax.add_patch(Rectangle((c0, r0), nc, nr, facecolor=HI, edgecolor=HI_EDGE, lw=1.6))
    ax.set_xlim(-2, 72)
    ax.set_ylim(N + 2, -6)
    ax.set_aspect("equal")
    ax.set_xticks([0, 16, 32, 48, 64])
    ax.set_yticks([0, 16, 32, 48, 64])
    ax.tick_params(labelsize=7, length=2)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    for side in ax.spines.values():
        side.set_visible(False)


def _cells(ax, rows: int, cols: int, x0: float = 0, y0: float = 0, label: bool = True) -> None:
    """A rows x cols grid of weights w[i][j], unit squares from (x0, y0)."""
    for i in range(rows):
        for j in range(cols):
            ax.add_patch(Rectangle((x0 + j, y0 + i), 1, 1, facecolor=W_CELL, edgecolor=HI_EDGE, lw=0.6))
    if label:
        ax.text(x0 + cols / 2, y0 + rows / 2, "w[i][j]", ha="center", va="center", fontsize=8, color=HI_EDGE)


def _circle(ax, x: float, y: float, text: str, colour: str = STATE) -> None:
    ax.add_patch(plt.Circle((x, y), 0.38, facecolor=colour, edgecolor="black", lw=0.6))
    ax.text(x, y, text, ha="center", va="center", fontsize=5.5)


def _sum(ax, x: float, y: float, text: str) -> None:
    ax.add_patch(Rectangle((x - 0.45, y - 0.45), 0.9, 0.9, facecolor=SUM, edgecolor="black", lw=0.6))
    ax.text(x, y, text, ha="center", va="center", fontsize=5.5)


def _arrow(ax, a: tuple[float, float], b: tuple[float, float]) -> None:
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=6, lw=0.6, color="black"))


def _panel(ax, title: str, xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=9)


def _rows(ax) -> None:
    """Bottom-up: PE adder trees, each the sum of SIMD products w[i][j] x_j."""
    _cells(ax, PE, SIMD)
    for j in range(SIMD):
        _circle(ax, j + 0.5, -1.2, f"x{j}")
        _arrow(ax, (j + 0.5, -0.8), (j + 0.5, 0))
    for i in range(PE):
        _arrow(ax, (SIMD, i + 0.5), (SIMD + 1.1, i + 0.5))
        _sum(ax, SIMD + 1.6, i + 0.5, f"Σ{i}")
    ax.text(SIMD / 2, -2.3, f"SIMD = {SIMD} states x_j (s_l), one per column", ha="center", fontsize=7)
    ax.text(SIMD + 2.3, PE / 2, f"PE = {PE} sums:\nneurons of s_(l+1)", ha="left", va="center", fontsize=7)
    ax.text(SIMD / 2, PE + 1.0, "out_i = Σ_j w[i][j] x_j\n(ROWS: each tree reduces a row)", ha="center",
            va="top", fontsize=7)
    _panel(ax, f"bottom-up, W s: {PE} rows x {SIMD} products", (-1, SIMD + 7.5), (PE + 3.2, -3.2))


def _columns(ax) -> None:
    """Top-down: the same tile read transposed, SIMD sums of PE products w[i][j] y_i."""
    _cells(ax, PE, SIMD)
    for i in range(PE):
        _circle(ax, -1.2, i + 0.5, f"y{i}")
        _arrow(ax, (-0.8, i + 0.5), (0, i + 0.5))
    for j in range(SIMD):
        _arrow(ax, (j + 0.5, PE), (j + 0.5, PE + 1.1))
        _sum(ax, j + 0.5, PE + 1.6, f"Σ{j}")
    ax.text(-2.0, PE / 2, f"PE = {PE}\nstates y_i\n(upper layer)", ha="right", va="center", fontsize=7)
    ax.text(SIMD / 2, PE + 2.6, f"SIMD = {SIMD} sums: out_j = Σ_i w[i][j] y_i\n(COLUMNS: the same tile, "
            "transposed)", ha="center", va="top", fontsize=7)
    _panel(ax, f"top-down, W^T s: {SIMD} columns x {PE} products", (-6.5, SIMD + 1), (PE + 4.6, -1.2))


def _lanes_up(ax) -> None:
    """P-lane bottom-up: one word, P weights of a row, times P lower states, one adder tree, one neuron."""
    _cells(ax, 1, P, label=False)
    for j in range(P):
        ax.text(j + 0.5, 0.5, f"w{j}", ha="center", va="center", fontsize=5.5, color=HI_EDGE)
        _circle(ax, j + 0.5, -1.2, f"s{j}")
        _arrow(ax, (j + 0.5, -0.8), (j + 0.5, 0))
    _arrow(ax, (P, 0.5), (P + 1.1, 0.5))
    _sum(ax, P + 1.6, 0.5, "Σ")
    ax.text(P + 2.3, 0.5, "one adder tree:\none neuron of s_(l+1)", ha="left", va="center", fontsize=7)
    ax.text(P / 2, -2.3, f"P = {P} lower states s_l (one per lane)", ha="center", fontsize=7)
    ax.text(P / 2, 1.6, "W_l[r, c0 : c0 + P]  (1 x P)", ha="center", va="top", fontsize=7)
    _panel(ax, f"bottom-up, W s: 1 row x {P} products", (-1, P + 8.5), (3.0, -3.2))


def _lanes_down(ax) -> None:
    """P-lane top-down: the same kind of word (of W_{l+1}) times one broadcast upper state, P accumulators."""
    _cells(ax, 1, P, label=False)
    _circle(ax, -1.6, -1.2, "s_j")
    ax.text(-1.6, -1.8, "one upper state\n(broadcast)", ha="center", va="bottom", fontsize=6.5)
    ax.plot([-1.22, P - 0.5], [-1.2, -1.2], color="black", lw=0.6)
    for j in range(P):
        ax.text(j + 0.5, 0.5, f"w{j}", ha="center", va="center", fontsize=5.5, color=HI_EDGE)
        _arrow(ax, (j + 0.5, -1.2), (j + 0.5, 0))
        _arrow(ax, (j + 0.5, 1), (j + 0.5, 2.1))
        _sum(ax, j + 0.5, 2.6, f"a{j}")
    ax.text(P / 2, 3.5, f"P = {P} accumulators, one product each:\nW_(l+1)[j, c0 : c0 + P] read as a column "
            "of W_(l+1)^T", ha="center", va="top", fontsize=7)
    _panel(ax, f"top-down, W^T s: {P} columns x 1 product", (-4, P + 1.5), (5.6, -3.2))


def main() -> None:
    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "folding", "font.family": "DejaVu Sans"})
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.6), gridspec_kw={"width_ratios": [1.05, 1.1, 1.0]})
    a, c = TILE
    padded = -(-N // SIMD) * SIMD
    _matrix(axes[0, 0], PE, SIMD, (a * PE, c * SIMD, PE, SIMD),
            f"tiled: HwConfig(pe={PE}, simd={SIMD}), folding {PE} x {SIMD}",
            f"rows: blocks of PE = {PE}", f"columns: blocks of SIMD = {SIMD}", padded)
    axes[0, 0].text(c * SIMD + SIMD / 2, a * PE - 1.5, f"tile ({a}, {c})", ha="center", va="bottom", fontsize=7,
                    color=HI_EDGE)
    _rows(axes[0, 1])
    _columns(axes[0, 2])
    r, w = WORD
    _matrix(axes[1, 0], 1, P, (r, w * P, 1, P), f"P lanes: HwConfig(mac_lanes={P}), folding 1 x {P}",
            "rows: one word row each", f"columns: words of P = {P}", N)
    axes[1, 0].text(w * P + P / 2, r - 1.5, "one word", ha="center", va="bottom", fontsize=7, color=HI_EDGE)
    _lanes_up(axes[1, 1])
    _lanes_down(axes[1, 2])
    fig.suptitle("Folding: the weights of a 64 x 64 matrix W_l read per cycle, and their two readings",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(OUT, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
