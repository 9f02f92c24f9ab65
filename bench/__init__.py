"""Benchmarks: ``python -m bench`` runs every ``bench/<name>.py`` defining ``main()``; results in bench/results/."""
