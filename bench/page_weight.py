"""What a phone downloads for one page: the HTML and every stylesheet, script and icon it links.

    python bench/page_weight.py http://127.0.0.1:8000/

Asks for gzip like a browser does and counts the bytes as they arrive (compressed where the
server compresses: whitenoise serves static files pre-compressed; the HTML is gzipped by Django
under gunicorn alone, by nginx behind it). Prints one line per resource and the total in
kilobytes (1 KB = 1000 bytes).
"""

import gzip
import re
import sys
import urllib.request
from urllib.parse import urljoin

LINKED = re.compile(r'<(?:link[^>]+rel="(?:stylesheet|icon)"[^>]+href|script[^>]+src)="([^"]+)"')


def fetch(url):
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip, br"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read(), response.headers.get("Content-Encoding", "identity")


def page_weight(url):
    """[(url, bytes transferred, encoding), …] for the page and what it links."""
    html, encoding = fetch(url)
    resources = [(url, len(html), encoding)]
    text = (gzip.decompress(html) if encoding == "gzip" else html).decode("utf-8")
    for link in LINKED.findall(text):
        body, link_encoding = fetch(urljoin(url, link))
        resources.append((urljoin(url, link), len(body), link_encoding))
    return resources


def main(url):
    resources = page_weight(url)
    for resource, size, encoding in resources:
        print(f"{size / 1000:8.1f} KB  {encoding:8}  {resource}")
    print(f"{sum(size for _, size, _ in resources) / 1000:8.1f} KB  total")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/")
