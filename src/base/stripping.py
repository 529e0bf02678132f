"""Notebooks are saved and committed without outputs: what JupyterLab's save hook and git's filter do.

On real data a notebook's outputs are real numbers (small cells of a researcher's own table
included), so no output may reach a tracked file. Two guards, one rule (``strip_outputs``):

* **JupyterLab** started by ``make lab`` loads the project's ``jupyter_server_config.py``, whose
  ``FileContentsManager.pre_save_hook`` is ``pre_save_hook`` below: every notebook saved from Lab is
  written to disk without outputs (the open tab keeps showing them until it is closed).
* **git**: ``.gitattributes`` puts every ``*.ipynb`` through the ``nbstripout`` filter, which the
  venv bootstrap (``make venv``, any ``make`` target) configures in a git checkout
  (``nbstripout --keep-id``): a notebook saved by another editor is stripped when it is staged.

What stays is what papermill and the build need: the cells' sources and fixed ids, their tags
(``parameters``), and the notebook's ``kernelspec`` and ``language_info``.
"""

from __future__ import annotations

# cell metadata an editor adds while running (timings, collapsed/scrolled state); nbstripout drops the same
VOLATILE_CELL_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled", "heading_collapsed", "hidden")
VOLATILE_METADATA = ("widgets", "signature", "papermill")


def strip_outputs(nb: dict) -> bool:
    """Remove outputs, execution counts and run-time metadata from a notebook (a dict, changed in place).

    Returns True when something was removed.
    """
    changed = False
    meta = nb.get("metadata")
    if isinstance(meta, dict):
        for key in VOLATILE_METADATA:
            if key in meta:
                del meta[key]
                changed = True
    for cell in nb.get("cells") or []:
        cm = cell.get("metadata")
        if isinstance(cm, dict):
            for key in VOLATILE_CELL_METADATA:
                if key in cm:
                    del cm[key]
                    changed = True
        if cell.get("cell_type") == "code":
            if cell.get("outputs"):
                changed = True
            if cell.get("execution_count") is not None:
                changed = True
            cell["outputs"] = []
            cell["execution_count"] = None
    return changed


def pre_save_hook(model: dict, path: str = "", contents_manager=None, **kwargs) -> None:
    """jupyter_server's pre-save hook: a notebook is written without its outputs.

    A notebook that cannot be stripped is not saved (an HTTP error Lab shows), rather than saved whole.
    """
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    try:
        strip_outputs(model["content"])
    except Exception as exc:  # never fall back to writing the outputs
        from tornado.web import HTTPError

        raise HTTPError(500, f"{path}: the outputs could not be stripped ({exc}); the notebook was not saved") from exc
