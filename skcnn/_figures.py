"""Figures for skcnn's charts: made without pyplot, shown inline or saved to a file."""

import io
import os

__all__ = ["new_figure", "show_figure"]


def new_figure(width, height, layout=None):
    """A pyplot-free figure on an Agg canvas (``savefig`` works without a GUI backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    return fig


def show_figure(fig, filename=None, *, dpi=100):
    """Show ``fig`` inline in a Jupyter notebook, or save it as a PNG file elsewhere.

    The examples use it so that the same code works as a notebook and as a
    plain script: in a running IPython kernel the figure is displayed as a
    PNG image (no ``%matplotlib`` magic or pyplot needed); anywhere else it is
    written to ``filename``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure, e.g. from :func:`~skcnn.plotting.plot_filters`.
    filename : str or path-like, default=None
        Where to save the figure when there is no notebook to show it in;
        ``None`` does nothing then.
    dpi : int, default=100
        Resolution of the PNG.

    Returns
    -------
    path : str or None
        The file written, or None when the figure was displayed (or not saved).
    """
    shell = None
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython is not a dependency
        pass
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from IPython.display import Image, display

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
        display(Image(data=buffer.getvalue(), format="png"))
        return None
    if filename is None:
        return None
    folder = os.path.dirname(os.fspath(filename))
    if folder:
        os.makedirs(folder, exist_ok=True)
    fig.savefig(filename, dpi=dpi)
    print(f"figure saved to {os.fspath(filename)}")
    return os.fspath(filename)
