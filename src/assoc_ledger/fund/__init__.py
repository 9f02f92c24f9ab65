"""The welfare-fund books (计划生育公益金): append-only double-entry Beancount ledgers, indexed in the database."""
