"""The small core every domain area builds on: settings, database, money, errors, personal data."""
