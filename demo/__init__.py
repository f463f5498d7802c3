"""The demo data set that ``certify seed-demo`` writes."""
