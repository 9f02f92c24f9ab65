"""Households (计生家庭): the registry that aid, pairings and visits read."""
