"""gunicorn settings for `make run` and production; the environment can override each one.

Threaded workers (gthread): a request that waits on the database or the SMS gateway holds a thread,
not a whole process.
"""

import ipaddress
import multiprocessing
import os
import time

# One time zone for every line of the log: Beijing time, the site's TIME_ZONE. Django sets TZ in
# each worker when it loads its settings; without this the master (Listening at, Booting worker)
# logged in the host's zone and the workers eight hours apart.
os.environ["TZ"] = "Asia/Shanghai"
time.tzset()

bind = os.environ.get("GUNICORN_BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or max(2, multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 4)

# SO_REUSEPORT: the kernel spreads new connections over the workers. Without it, long-lived
# keep-alive connections (wrk's, or nginx's upstream pool) can all land on one worker and leave
# the other idle: measured here, every third 4-second run of the baseline fell from about
# 3,500 to about 1,100 requests/s; with it, ten runs out of ten stayed between 3,380 and 3,660.
reuse_port = True


def when_ready(server):
    """Say the address to open: gunicorn's own `Listening at:` line can come without it."""
    for address in bind.split(","):
        address = address.strip()
        if address.startswith("unix:"):
            server.log.info("Serving the site on %s", address)
        else:
            server.log.info("Serving the site on http://%s/", address)


timeout = 30
graceful_timeout = 20
keepalive = 5

accesslog = "-"
errorlog = "-"
# %(M)s: request time in milliseconds.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'

# gunicorn's runtime control socket is not used here; with it, two instances on one host (two
# ports, or a test beside `make run`) would contend for the same socket file.
control_socket_disable = True

# Who may tell gunicorn that a request came over HTTPS: the reverse proxies the site believes
# (DJANGO_TRUSTED_PROXIES, as zibo_vote.settings reads it), and only when
# DJANGO_BEHIND_TLS_PROXY=1 says one terminates TLS and overwrites X-Forwarded-Proto. Django
# takes the scheme from gunicorn (wsgi.url_scheme). gunicorn's own defaults believed
# X-Forwarded-Proto, X-Forwarded-Ssl and X-Forwarded-Protocol from loopback whatever the
# settings said.
forwarded_allow_ips = ",".join(
    str(ipaddress.ip_network(proxy.strip(), strict=False))  # 10.0.0.10/24 as Django reads it
    for proxy in (os.environ.get("DJANGO_TRUSTED_PROXIES") or "127.0.0.1,::1").split(",")
    if proxy.strip()
)
_behind_tls_proxy = os.environ.get("DJANGO_BEHIND_TLS_PROXY", "").strip().lower()
secure_scheme_headers = (
    {"X-FORWARDED-PROTO": "https"} if _behind_tls_proxy in {"1", "true", "yes", "on"} else {}
)
# No header, from anyone, sets SCRIPT_NAME or PATH_INFO: the site lives at the root. (gunicorn
# took both from forwarded_allow_ips by default; `SCRIPT_NAME: /evil` from a client was a 500.)
forwarder_headers = ""
