"""The shipped style models, installed as the data-only package ``rtst.models``.

setup.cfg maps this folder to ``rtst.models``; code finds it through
:data:`rtst.model.MODELS_DIR` (:func:`rtst.model.shipped.models_dir`), never by this name.
"""
