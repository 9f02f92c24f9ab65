"""Monthly entitlements (奖励扶助): the rule, runs and payment rolls, reconciliation."""
