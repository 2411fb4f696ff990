"""`make demo`: a whole admissions season, every service its own process, in minutes."""
