"""SER Explorer core library: corpora, spectro-temporal features, models, training.

Never imports streamlit: the library, the `ser` command and the tests run headless.
"""

__version__ = "0.1.0"
