# The project's Jupyter server settings, loaded by `make lab` (jupyter lab --config=jupyter_server_config.py).
# Notebooks saved from JupyterLab are written without outputs (on real data they are real numbers):
# src/base/stripping.py, which also says how git strips notebooks saved by other editors (nbstripout).
c = get_config()  # noqa: F821  (defined by Jupyter when it loads this file)

c.FileContentsManager.pre_save_hook = "src.base.stripping.pre_save_hook"
# headless: a server (or container) has no browser; `make lab` prints the URL to open
c.ServerApp.open_browser = False
