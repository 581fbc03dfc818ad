"""Stand-alone tools shipped with the site.

`tools/verify_record.py` is one file that runs with Python and the `cryptography` package alone
(it goes out inside every closing package). The site imports its hashing and proof primitives
from here, so the log the site builds and the log the public checks are defined in one place.
"""
