"""The production settings, serving the benchmark's URLs too: what bench/run.py starts.

    DJANGO_SETTINGS_MODULE=bench.settings

Production never names this module, so the baseline view and the synthetic loader
(bench/synthetic.py, which refuses to run under any other settings) never reach a real server.
"""

from zibo_vote.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
