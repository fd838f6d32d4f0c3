"""Small modules the notebooks' exercises work on (kept apart from ``lambdaone``, never deployed).

``jwks_via_attribute``, ``jwks_via_submodule`` and ``jwks_via_from_import`` verify a token in the
same way and differ in one line only: how they name ``PyJWKClient`` (notebook 06).
"""
