"""#31: the 10-class confusion picture was cut off on the right; it must hold 2 to 50."""

import numpy as np
import pytest
from PIL import Image

from vidops.evaluation.plots import confusion_figure, plot_confusion

TITLE = "test split (120 clips): macro F1 0.812 [95% CI 0.61, 0.93], accuracy 0.833 [0.67, 1.00]"


@pytest.mark.parametrize("n", [2, 10, 50])
def test_every_label_and_the_title_are_inside_the_picture(n, tmp_path):
    classes = [f"a_rather_long_class_name_{i}" for i in range(n)]
    matrix = (np.eye(n, dtype=int) * 5 + (np.arange(n)[:, None] == (np.arange(n) + 1) % n)).tolist()
    path = tmp_path / "cm.png"
    plot_confusion(matrix, classes, path, TITLE)
    width, height = Image.open(path).size
    assert 300 < width < 2700 and 300 < height < 2700  # big enough to read, small enough to open

    plt, fig = confusion_figure(matrix, classes, TITLE)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    saved = fig.get_tightbbox(renderer)  # what bbox_inches="tight" keeps, in inches
    ax = fig.axes[0]
    texts = [*ax.get_xticklabels(), *ax.get_yticklabels(), ax.title]
    for text in texts:
        box = text.get_window_extent(renderer).transformed(fig.dpi_scale_trans.inverted())
        assert saved.x0 - 1e-6 <= box.x0 and box.x1 <= saved.x1 + 1e-6, text.get_text()
    # ... and the picture written is that whole area (not the figure's nominal size)
    assert abs(width - (saved.width + 0.2) * 110) < 0.03 * width  # + savefig's 0.1 inch pad
    assert abs(height - (saved.height + 0.2) * 110) < 0.03 * height
    # a cell's count never gets smaller than 5 points, the class names never below 5
    assert min(t.get_fontsize() for t in ax.texts) >= 5
    assert min(t.get_fontsize() for t in ax.get_xticklabels()) >= 5
    plt.close(fig)
