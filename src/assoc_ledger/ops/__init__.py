"""Operations: backups and restores of the database and the books together."""
