"""Users, organisation-scoped roles, guards, sessions, API tokens and the audit log."""
