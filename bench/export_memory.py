"""One export, written to /dev/null: its time and how much it grew the process's memory.

    DJANGO_SETTINGS_MODULE=bench.settings python -m bench.export_memory tally|ballots SLUG

Prints JSON: seconds (the export itself, not Django's start-up) and peak_growth_mb (the peak
resident memory during the export above what the process held before it; Linux only).
"""

import json
import os
import sys
import time

import django


def status(field):
    with open("/proc/self/status", encoding="ascii") as proc:
        for line in proc:
            if line.startswith(field + ":"):
                return int(line.split()[1])  # kB
    raise RuntimeError(field)


def main(kind, slug):
    django.setup()
    from ballots import export
    from ballots.models import Poll

    poll = Poll.objects.get(slug=slug)
    lines = export.tally_lines if kind == "tally" else export.ballot_lines
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
        clear.write("5")  # reset the peak (VmHWM) to the present size
    before = status("VmRSS")
    began = time.perf_counter()
    with open(os.devnull, "w", encoding="utf-8") as out:
        for line in lines(poll, export.export_moment()):
            out.write(line)
    seconds = time.perf_counter() - began
    growth = (status("VmHWM") - before) / 1024
    print(json.dumps({"seconds": round(seconds, 3), "peak_growth_mb": round(growth, 1)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "reform-experiences")
