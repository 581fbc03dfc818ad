"""The review page's time at size (issue 14), on the poll the synthetic loader filled: the
review's computation (what manage.py review_poll does every 5 minutes), and the 审核 page as
staff open it, reading the stored review.

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

    from ballots import review
    from ballots.management.polls import poll_named

    poll = poll_named(args.poll)
    user, _created = get_user_model().objects.get_or_create(
        username="bench-review", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    url = f"/admin/ballots/poll/{poll.pk}/review/"
    computed = []
    for _ in range(args.runs):
        began = time.monotonic()
        review.store_review(poll)
        computed.append(time.monotonic() - began)
    print(
        f"review computed (review_poll), {poll.ballot_count} ballots: "
        f"median {statistics.median(computed) * 1000:.0f} ms,"
        f" best {min(computed) * 1000:.0f} ms over {args.runs} runs"
    )
    times = []
    for _ in range(args.runs):
        began = time.monotonic()
        response = client.get(url, HTTP_HOST="localhost")
        times.append(time.monotonic() - began)
        assert response.status_code == 200, response.status_code
    print(
        f"review page (stored review), {poll.ballot_count} ballots: "
        f"median {statistics.median(times) * 1000:.0f} ms,"
        f" best {min(times) * 1000:.0f} ms over {args.runs} runs"
    )


if __name__ == "__main__":
    main()
