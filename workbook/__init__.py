"""The workbook's support package: keys and tokens for exercises, a local JWKS server, event
builders, and the checks that notebooks run. It imports ``lambdaone``; ``lambdaone`` never imports it,
and it is never part of the deployed Lambda.
"""
