"""Django's template engine against Jinja2 on a citizen flow's pages: the CPU of rendering each.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python bench/engines.py [--rounds 300]
                                                            [--warmup 20] [--unfixed]
    env -u DATABASE_URL -u REDIS_URL python bench/engines.py    # the settings' SQLite default

Does DTL bound the CPU a flow costs? One citizen's flow runs through Django's test Client as
bench/flow.py runs it (its set-up and its steps, imported from there), and each page the flow
renders is recorded as the view handed it over: the template's name, its context, the request.
After the flow, each page is rendered again from those with the site's DTL templates and with
their Jinja2 ports in bench/jinja2/ (environment: bench/jinja2_env.py), through Django's
Jinja2 backend given the same context processors as the site's DTL engine. First the two
engines' HTML is compared, with whitespace collapsed and the CSRF tokens and CSP nonces masked,
in the page's language and in English (the other catalogue: the ports must look up the same
msgids); a difference is printed as a diff and the script exits with 1. Then each page is
rendered --rounds times per engine, the two engines alternating within a round, and the median
CPU time of one render (time.process_time_ns, this process) is printed per page and for the
flow's pages together (the median of each round's sum).

The comparison is conservative: DTL's {% fixed %} keeps the parts of base.html that depend only
on the language and the settings (zibo_vote/templatetags/fixed.py), which the ports render every
time (--unfixed adds a third column: DTL with those parts emptied before each render, so
rendered every time too). Form fields ({{ form.phone.as_field_group }}) are Django's form
rendering in both, the same work either way, as are the context processors and the CSRF token.
Jinja2 is installed for this script only; the site does not use it.
"""

import argparse
import difflib
import os
import platform
import re
import shlex
import statistics
import sys
import time

from flow import ROOT, STEPS, Counters, one_flow, prepare

PAGES = (
    "ballots/verify_phone.html",
    "ballots/verify_code.html",
    "ballots/vote.html",
    "ballots/vote_review.html",
    "ballots/vote_done.html",
)
TOKEN_VALUE = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*"')
NONCE = re.compile(r'(nonce=")[^"]*"')


def normalise(html):
    html = NONCE.sub(r'\1…"', TOKEN_VALUE.sub(r'\1…"', html))
    return re.sub(r"\s+", " ", html).strip()


def record_flow():
    """One citizen's flow; the pages it rendered: (template name, context, request, language)."""
    from django.template.backends.django import Template
    from django.test import Client
    from django.utils.translation import get_language

    pages = []
    render = Template.render

    def recording(self, context=None, request=None):
        # Only a page the view renders: not a form's field templates (no request), nor the
        # includes (rendered inside the page's template, never through the backend).
        if request is not None and self.origin.template_name in PAGES:
            pages.append((self.origin.template_name, dict(context or {}), request, get_language()))
        return render(self, context, request)

    Template.render = recording
    try:
        n = int(time.time() * 1000) % 10**6 * 1000  # a new number and address on every run
        one_flow(Client(), n, Counters(), {name: [] for name in STEPS})
    finally:
        Template.render = render
    return pages


def jinja2_backend():
    from django.conf import settings
    from django.template.backends.jinja2 import Jinja2

    return Jinja2(
        {
            "NAME": "jinja2-bench",
            "DIRS": [ROOT / "bench" / "jinja2"],
            "APP_DIRS": False,
            "OPTIONS": {
                "environment": "bench.jinja2_env.environment",
                "context_processors": settings.TEMPLATES[0]["OPTIONS"]["context_processors"],
            },
        }
    )


def differences(label, dtl_html, jinja2_html):
    """A short unified diff of the two pages, normalised and cut after each tag; "" if equal."""
    if normalise(dtl_html) == normalise(jinja2_html):
        return ""
    lines = [normalise(html).replace(">", ">\n").splitlines() for html in (dtl_html, jinja2_html)]
    diff = difflib.unified_diff(*lines, f"{label} DTL", f"{label} Jinja2", n=2, lineterm="")
    return "\n".join(list(diff)[:60])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20, help="rounds run first, not counted")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument(
        "--unfixed",
        action="store_true",
        help="time DTL with its {%% fixed %%} parts rendered every time too (a third column)",
    )
    args = parser.parse_args()
    prepare(args.database_url, args.redis_url)

    import django
    import jinja2
    from django.db import connection
    from django.template import engines
    from django.utils import translation

    from zibo_vote.templatetags.fixed import forget

    recorded = record_flow()
    dtl, j2 = engines["django"], jinja2_backend()
    pages = [
        (
            f"{name} ({request.method} {request.path})",
            (dtl.get_template(name), j2.get_template(name)),
            context,
            request,
            language,
        )
        for name, context, request, language in recorded
    ]
    if [page[0].split()[0] for page in pages] != list(PAGES):
        sys.exit(f"the flow rendered {[page[0] for page in pages]}, not the pages {PAGES}")

    failed = False
    for label, templates, context, request, language in pages:
        for checked in dict.fromkeys([language, "en"]):
            with translation.override(checked):
                html = [template.render(dict(context), request) for template in templates]
            diff = differences(f"{label} [{checked}]", *html)
            if diff:
                print(diff, file=sys.stderr)
                failed = True
    if failed:
        sys.exit("the DTL and Jinja2 pages differ (above)")

    # What is timed: a name, which of a page's two templates, what is done first (not timed).
    timed = [("DTL", 0, None), ("Jinja2", 1, None)]
    if args.unfixed:
        timed.append(("DTL, {% fixed %} emptied", 0, forget))
    # samples[page][engine]: the CPU nanoseconds of each counted render.
    samples = [[[] for _ in timed] for _ in pages]
    for round_number in range(args.warmup + args.rounds):
        first = round_number % len(timed)  # each goes first in turn
        order = [*range(first, len(timed)), *range(first)]
        for (_label, templates, context, request, language), times in zip(
            pages, samples, strict=True
        ):
            with translation.override(language):
                for engine in order:
                    _name, template, before = timed[engine]
                    if before:
                        before()
                    fresh = dict(context)  # Jinja2's backend adds the processors' keys to it
                    began = time.process_time_ns()
                    templates[template].render(fresh, request)
                    spent = time.process_time_ns() - began
                    if round_number >= args.warmup:
                        times[engine].append(spent)

    print("python " + shlex.join(sys.argv))
    print(
        f"Python {platform.python_version()}, Django {django.get_version()}, "
        f"Jinja2 {jinja2.__version__}; database {connection.vendor}; "
        f"{args.rounds} rounds after {args.warmup} of warm-up; "
        f"load average {os.getloadavg()[0]:.1f}\n"
    )
    header = ["page", "DTL median CPU ms", "Jinja2 median CPU ms", "ratio (Jinja2/DTL)"]
    if args.unfixed:
        header += ["DTL, {% fixed %} emptied, median CPU ms", "ratio (Jinja2/that)"]
    print(f"| {' | '.join(header)} |")
    print("|---" + "|---:" * (len(header) - 1) + "|")
    # The flow's pages together: each round's sum of them, per engine.
    sums = [[sum(t[e][i] for t in samples) for i in range(args.rounds)] for e in range(len(timed))]
    labels = [label for label, *_ in pages]
    for label, times in [*zip(labels, samples, strict=True), ("**the flow's pages**", sums)]:
        dtl_ms, jinja2_ms, *unfixed = (statistics.median(t) / 1e6 for t in times)
        cells = [label, f"{dtl_ms:.3f}", f"{jinja2_ms:.3f}", f"{jinja2_ms / dtl_ms:.2f}"]
        cells += [cell for ms in unfixed for cell in (f"{ms:.3f}", f"{jinja2_ms / ms:.2f}")]
        print(f"| {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
