"""The public record's pages: /receipt/ (a citizen checks a ballot) and /record/ (anyone checks
the whole log). No JavaScript: every check is made here and shown, and every file offered."""

import json

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_ratelimit.core import get_usage
from django_ratelimit.exceptions import Ratelimited

from ballots.models import PollStatus
from tools.verify_record import canonical_json
from zibo_vote.http import never_cache
from zibo_vote.page_cache import public_page

from .forms import ReceiptForm
from .lookup import UNKNOWN_MESSAGE, look_up_receipt
from .models import Checkpoint, Log
from .publish import next_checkpoint_due, record_signer
from .signing import SigningKeyError


def _check_rate(request):
    """Receipt look-ups per client address (RATE_RECEIPT_PER_IP). A receipt cannot be guessed
    (31^12 codes); the limit keeps one address from making the page a load test. With the
    shared cache down the look-up goes on, as voting does (ballots' limits)."""
    usage = get_usage(
        request, group="receipt-ip", key="ip", rate=settings.RATE_LIMITS["receipt_per_ip"],
        increment=True,
    )  # fmt: skip
    cache_down = usage is not None and usage["time_left"] == -1 and usage["limit"] == 0
    if usage is not None and usage["should_limit"] and not cache_down:
        raise Ratelimited


def _receipt_page(request, form, lookup=None, status=200):
    return render(
        request,
        "record/receipt.html",
        {"form": form, "lookup": lookup, "unknown_message": UNKNOWN_MESSAGE},
        status=status,
    )


# POST, not a query string: a receipt in an address would land in access logs next to the
# client's address, and a receipt leads to its choices (P5).
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def receipt(request):
    if request.method == "GET":
        return _receipt_page(request, ReceiptForm())
    _check_rate(request)
    form = ReceiptForm(request.POST)
    if not form.is_valid():
        return _receipt_page(request, form)
    return _receipt_page(request, form, look_up_receipt(form.cleaned_data["receipt"]))


@never_cache
@require_POST
def receipt_proof(request):
    """The proof of the page as a JSON file, to keep and check later (docs/record.md)."""
    _check_rate(request)
    form = ReceiptForm(request.POST)
    if not form.is_valid():
        return _receipt_page(request, form)
    lookup = look_up_receipt(form.cleaned_data["receipt"])
    if lookup.document is None:
        return _receipt_page(request, form, lookup)
    response = JsonResponse(lookup.document, json_dumps_params={"ensure_ascii": False, "indent": 2})
    response["Content-Disposition"] = (
        f'attachment; filename="{lookup.poll.slug}-receipt-proof.json"'
    )
    return response


def _public_key():
    try:
        return record_signer()
    except SigningKeyError:
        return None


@require_safe
@public_page
def index(request):
    logs = Log.objects.select_related("poll").order_by("-poll__opens_at")
    polls = [(log.poll, log.checkpoints.order_by("-number").first()) for log in logs]
    return render(
        request,
        "record/index.html",
        {"polls": polls, "signer": _public_key(), "next_due": next_checkpoint_due()},
    )


def _log(slug):
    return get_object_or_404(Log.objects.select_related("poll"), poll__slug=slug)


@require_safe
@public_page
def poll_record(request, slug):
    log = _log(slug)
    poll = log.poll
    checkpoints = Paginator(log.checkpoints.order_by("-number"), 50)
    page = checkpoints.get_page(request.GET.get("page"))
    return render(
        request,
        "record/poll.html",
        {
            "log": log,
            "poll": poll,
            "page": page,
            "latest": log.checkpoints.order_by("-number").first(),
            "signer": _public_key(),
            "entries_public": poll.has_ended,
            "package": getattr(log, "package", None)
            if poll.status == PollStatus.CERTIFIED
            else None,
            "next_due": next_checkpoint_due(),
        },
    )


@require_safe
def checkpoints_file(request, slug):
    log = _log(slug)
    lines = (canonical_json(c.published(slug)) + b"\n" for c in log.checkpoints.order_by("number"))
    return _download(b"".join(lines), f"{slug}-checkpoints.jsonl", "application/jsonl")


@require_safe
def checkpoint_file(request, slug, number):
    checkpoint = get_object_or_404(Checkpoint, log__poll__slug=slug, number=number)
    data = json.dumps(checkpoint.published(slug), ensure_ascii=False, indent=2).encode() + b"\n"
    return _download(data, f"{slug}-checkpoint-{number}.json", "application/json")


@require_safe
def entries_file(request, slug):
    log = _log(slug)
    if not log.poll.has_ended:
        # P6: while voting runs only checkpoints are public, never entries.
        raise Http404(_("投票结束后才公开各条记录。"))
    rows = log.entries.order_by("index").values_list("data", flat=True).iterator(chunk_size=5000)
    response = StreamingHttpResponse(
        (bytes(data) + b"\n" for data in rows), content_type="application/jsonl"
    )
    response["Content-Disposition"] = f'attachment; filename="{slug}-entries.jsonl"'
    return response


@require_safe
def public_key_file(request, slug=None):
    signer = _public_key()
    if signer is None:
        raise Http404
    return _download(signer.public_key_pem, "public_key.pem", "application/x-pem-file")


@require_safe
def package_file(request, slug):
    log = _log(slug)
    package = getattr(log, "package", None)
    if package is None or log.poll.status != PollStatus.CERTIFIED:
        raise Http404(_("结果确认后才发布公开记录包。"))
    return package_response(package)


def package_response(package):
    """The stored zip, sent a chunk at a time (also for admin's download)."""
    response = StreamingHttpResponse(package.chunks(), content_type="application/zip")
    response["Content-Length"] = str(package.size)
    response["Content-Disposition"] = f'attachment; filename="{package.filename}"'
    return response


def _download(data, filename, content_type):
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
