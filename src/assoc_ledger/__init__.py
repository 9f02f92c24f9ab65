"""assoc-ledger: books of family-planning associations (计划生育协会) on Beancount."""

__version__ = "0.1.0"
