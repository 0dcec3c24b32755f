"""The report's shared figure helpers against mplhep's own behaviour."""

import matplotlib.pyplot as plt
import mplhep
import numpy as np
import pytest

from colliderfm.report import figures


def _labelled(style: str, log: bool, ours: bool) -> tuple[list, int]:
    """The label's texts and positions, and how often the canvas was rendered while it was added."""
    opts = figures.PlotOptions(dpi=100, style=style, label="Simulation", bins=10)
    figures.use_style(opts)
    fig, ax = plt.subplots(figsize=(8, 7))
    x = np.arange(1, 50)
    ax.plot(x, np.exp(x / 7) if log else 1000 + x / 100, label="curve")  # linear: an offset text on the y axis
    ax.set_yscale("log" if log else "linear")
    ax.legend()
    renders = []
    draw = fig.canvas.draw
    fig.canvas.draw = lambda: renders.append(draw())
    if ours:
        figures.experiment_label(ax, opts, weighted=True)
    else:  # mplhep's own call: it renders the figure before placing the label's second word
        mplhep.label.exp_label(exp="colliderfm", llabel="Simulation", rlabel="unweighted", ax=ax, loc=0, fontsize=14)
    texts = [(t.get_text(), tuple(np.round(t.get_position(), 9))) for t in ax.texts]
    plt.close(fig)
    return texts, len(renders)


@pytest.mark.parametrize("log", [True, False])
@pytest.mark.parametrize("style", ["CMS", "ATLAS", "LHCb2", "ALICE"])
def test_experiment_label_lands_where_mplhep_puts_it_without_rendering_the_figure(style, log):
    (ours, our_renders), (theirs, their_renders) = _labelled(style, log, True), _labelled(style, log, False)
    assert sorted(text for text, _ in ours) == ["Simulation", "colliderfm", "unweighted"]
    assert ours == theirs
    assert (our_renders, their_renders) == (0, 1)
