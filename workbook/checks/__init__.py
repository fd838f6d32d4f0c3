"""Check batteries for the notebooks: one module per notebook (``nb00`` … ``nbNN``).

A notebook's check cell imports one of them and calls a check with the learner's function::

    from workbook.checks import nb03
    nb03.check_refuses_forgeries(verify_token)

Each check runs many cases through ``workbook.checking.check``: one ✅ line when all pass, else a
``CheckFailed`` naming the first case that failed. ``python -m workbook.selfcheck`` finds check cells
by their ``from workbook.checks import`` line.
"""
