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


def test_the_pool_scaling_figure_draws_each_gain_at_its_encoders_events():
    """One panel per label fraction; each task's line puts the gain (points) at the events its encoders were
    pretrained on, seen tasks with open markers."""
    import pandas as pd

    from colliderfm.report import study_plots

    rows = [
        dict(
            task=t,
            variant="v",
            seen=t == "tops",
            start="finetune",
            label_fraction=lf,
            labelled_events=100 * lf,
            pretext="process",
            pool_fraction=f,
            pretraining_events=e,
            seeds=3,
            accuracy=0.6,
            gain_accuracy=g,
            gain_accuracy_err=0.01,
            gain_auc=g,
            gain_auc_err=0.01,
        )
        for t in ("tops", "tth")
        for lf in (0.01, 0.1)
        for f, e, g in ((0.1, 1000, 0.01), (1.0, 10000, 0.03))
    ]
    opts = figures.PlotOptions(dpi=100, style="CMS", label="Simulation", bins=10)
    figures.use_style(opts)
    fig = study_plots.pool_scaling(pd.DataFrame(rows), opts)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        lines = {bars.get_label(): bars.lines[0] for bars in ax.containers}
        assert set(lines) == {"tops (seen): fine-tuned, process", "tth (unseen): fine-tuned, process"}
        for line in lines.values():
            assert list(line.get_xdata()) == [1000, 10000] and np.allclose(line.get_ydata(), [1, 3])
        assert lines["tops (seen): fine-tuned, process"].get_markerfacecolor() == "none"
    plt.close(fig)
