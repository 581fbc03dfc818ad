"""The review page's time at size (issue 14): the review computation and its render, as the
admin's 审核 page does them, on the poll the synthetic loader filled.

    DJANGO_SETTINGS_MODULE=bench.settings python -m bench.review_timing [--poll SLUG] [--runs 5]
"""

import argparse
import statistics
import time

import django


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poll", metavar="SLUG", default="reform-experiences")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from ballots.management.polls import poll_named

    poll = poll_named(args.poll)
    user, _created = get_user_model().objects.get_or_create(
        username="bench-review", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    url = f"/admin/ballots/poll/{poll.pk}/review/"
    times = []
    for _ in range(args.runs):
        began = time.monotonic()
        response = client.get(url, HTTP_HOST="localhost")
        times.append(time.monotonic() - began)
        assert response.status_code == 200, response.status_code
    print(
        f"review page, {poll.ballot_count} ballots: "
        f"median {statistics.median(times) * 1000:.0f} ms,"
        f" best {min(times) * 1000:.0f} ms over {args.runs} runs"
    )


if __name__ == "__main__":
    main()
