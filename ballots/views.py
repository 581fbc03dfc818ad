import logging
import secrets
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_http_methods, require_safe

from reforms.models import Reform
from zibo_vote.http import client_ip, local_path
from zibo_vote.page_cache import public_page

from . import limits, sms
from .forms import BallotForm, CodeForm, PhoneForm
from .identity import (
    id_number_hash,
    mask_phone,
    normalise_phone,
    phone_hash,
    truncated_network,
)
from .models import (
    AlreadyVoted,
    Ballot,
    CodeCheck,
    InvalidChoices,
    Poll,
    PollNotOpen,
    PollStatus,
    VerificationCode,
)
from .tally import tally

logger = logging.getLogger(__name__)

# Session keys. While a code is pending the session holds the phone's hash, its masked form
# for display and the nonce the code is bound to; once verified, only the hash and the time.
PENDING = "verify"
CITIZEN = "citizen"
RECEIPTS = "receipts"


def _polls_voted_in(request):
    """The one thing about a visitor the home page shows: in which polls they voted."""
    return ",".join(sorted(request.session.get(RECEIPTS, {})))


@require_safe
@public_page(variant=_polls_voted_in)
def home(request):
    poll = Poll.objects.current()
    reforms = poll.reforms.published() if poll else Reform.objects.published()
    voted = poll is not None and str(poll.pk) in request.session.get(RECEIPTS, {})
    return render(request, "ballots/home.html", {"poll": poll, "reforms": reforms, "voted": voted})


def verified_citizen(request):
    """The verified citizen's hash, or None if not verified or verified too long ago."""
    citizen = request.session.get(CITIZEN)
    if not citizen or time.time() - citizen["verified_at"] > settings.CITIZEN_VERIFIED_SECONDS:
        return None
    return citizen["hash"]


def _next_url(request):
    """Where to go after verifying: a path on this site, else the ballot."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    return local_path(target, reverse("ballots:vote"))


def _phone_step(request, form, message=""):
    return render(
        request,
        "ballots/verify_phone.html",
        {"form": form, "next": _next_url(request), "message": message},
    )


def _code_step(request, code_form, phone=""):
    pending = request.session[PENDING]
    return render(
        request,
        "ballots/verify_code.html",
        {
            "form": code_form,
            "resend_form": PhoneForm(initial={"phone": phone}),
            "phone": phone,
            "masked_phone": pending["masked"],
            "next": _next_url(request),
            "ttl_minutes": settings.SMS_CODE_TTL_SECONDS // 60,
            "resend_seconds": settings.SMS_RESEND_SECONDS,
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
def verify(request):
    """Step 1: a phone number (`phone`) gets a code by SMS. Step 2: the code (`code`) is checked.

    Both steps post to this one address, as the public contract names it; the presence of
    `code` tells the steps apart, and each step is its own function below.
    """
    if request.method == "POST":
        if "code" in request.POST:
            return _check_code(request)
        return _send_code(request)
    if verified_citizen(request):
        return HttpResponseRedirect(_next_url(request))
    if PENDING in request.session and request.GET.get("step") != "phone":
        return _code_step(request, CodeForm())
    return _phone_step(request, PhoneForm())


def _send_code(request):
    form = PhoneForm(request.POST)
    if not form.is_valid():
        return _phone_step(request, form)
    poll = Poll.objects.current()
    if poll is None or poll.status != PollStatus.OPEN:
        # No code, no SMS bill and no message to a stranger's phone when there is no vote.
        return _not_open(request, poll)
    phone = form.cleaned_data["phone"]
    hashed = phone_hash(phone)
    try:
        cooldown_key = limits.check_send_allowed(request, hashed)
    except limits.SendRefused as refused:
        form.add_error("phone", refused.message)
        return _phone_step(request, form)

    pending = request.session.get(PENDING) or {}
    nonce = pending.get("nonce") or secrets.token_urlsafe(18)
    row, code = VerificationCode.issue(
        phone_hash=hashed, nonce=nonce, phone_masked=mask_phone(phone)
    )
    text = _(
        "您的验证码是%(code)s，%(minutes)d分钟内有效，仅用于淄博市改革创新经验评选投票。"
        "如非本人操作，请忽略本短信。"
    ) % {"code": code, "minutes": settings.SMS_CODE_TTL_SECONDS // 60}
    try:
        sms.send_code(phone, code, text)
    except sms.SmsError as error:
        # No usable code may outlive a message that never arrived.
        row.delete()
        limits.release_cooldown(cooldown_key)
        logger.warning("SMS to %s failed: %s", mask_phone(phone), error)
        form.add_error("phone", _("短信发送失败，请稍后重试。如多次失败，请确认号码无误。"))
        return _phone_step(request, form)
    limits.record_sent(request, hashed)

    request.session[PENDING] = {"phone_hash": hashed, "masked": mask_phone(phone), "nonce": nonce}
    logger.info("Verification code sent to %s", mask_phone(phone))
    return _code_step(request, CodeForm(), phone=phone)


def _check_code(request):
    pending = request.session.get(PENDING)
    if pending is None:
        return _phone_step(
            request, PhoneForm(), _("请先获取短信验证码；如页面停留过久，请重新获取。")
        )
    # Counted against the number this session asked a code for, never a number in the
    # request: otherwise anyone could use up a stranger's allowance of checks.
    limits.check_code_allowed(request, pending["phone_hash"])
    phone = request.POST.get("phone", "")
    try:
        hashed = phone_hash(normalise_phone(phone)) if phone else pending["phone_hash"]
    except ValidationError:
        hashed = ""  # matches no code; the message then asks for a new one

    form = CodeForm(request.POST)
    if not form.is_valid():
        return _code_step(request, form, phone=phone)
    result = VerificationCode.check_code(
        phone_hash=hashed, nonce=pending["nonce"], code=form.cleaned_data["code"]
    )
    if result != CodeCheck.OK:
        form.add_error("code", str(CodeCheck(result).label))
        return _code_step(request, form, phone=phone)

    limits.record_verified(request)
    # A new session key at the moment the session gains a right, as a login does.
    request.session.cycle_key()
    del request.session[PENDING]
    request.session[CITIZEN] = {"hash": hashed, "verified_at": time.time()}
    return HttpResponseRedirect(_next_url(request))


def _not_open(request, poll, status=200):
    return render(request, "ballots/poll_not_open.html", {"poll": poll}, status=status)


def _already_voted(request, poll, ballot, status=200):
    return render(
        request, "ballots/already_voted.html", {"poll": poll, "ballot": ballot}, status=status
    )


# Not no-store: a browser may then keep the page in its history, so a citizen who opens an
# entry from the ballot and comes back finds the choices they had made.
@cache_control(private=True, no_cache=True, must_revalidate=True)
@require_http_methods(["GET", "POST"])
def vote(request):
    poll = Poll.objects.current()
    if poll is None or poll.status != PollStatus.OPEN:
        return _not_open(request, poll)
    citizen = verified_citizen(request)
    if citizen is None:
        return redirect(f"{reverse('ballots:verify')}?next={reverse('ballots:vote')}")

    if request.method == "POST":
        limits.check_vote_allowed(request, citizen)
    else:
        existing = Ballot.objects.filter(poll=poll, citizen_hash=citizen).first()
        if existing is not None:
            return _already_voted(request, poll, existing)

    form = BallotForm(poll, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        id_number = form.cleaned_data.get("id_number")
        try:
            ballot = poll.cast_ballot(
                citizen_hash=citizen,
                numbers=form.cleaned_data["choices"],
                id_number_hash=id_number_hash(id_number) if id_number else None,
                network=truncated_network(client_ip(request)),
                phone_masked=VerificationCode.masked_phone_for(citizen),
            )
        except AlreadyVoted as refused:
            if refused.by_id_number:
                form.add_error("id_number", _("该身份证号码已参加过本次投票，每个号码只能投一次。"))
            else:
                return _already_voted(request, poll, refused.ballot, status=409)
        except PollNotOpen as refused:
            return _not_open(request, refused.poll, status=409)
        except InvalidChoices:
            # The entries changed between the page and the vote (staff unpublished one).
            form.add_error("choices", _("所选经验已有变动，请重新选择。"))
        else:
            request.session[RECEIPTS] = {
                **request.session.get(RECEIPTS, {}),
                str(poll.pk): ballot.receipt,
            }
            return redirect("ballots:vote_done")
    return render(request, "ballots/vote.html", {"poll": poll, "form": form})


@never_cache
@require_safe
def vote_done(request):
    receipts = request.session.get(RECEIPTS, {})
    ballot = (
        Ballot.objects.filter(receipt__in=receipts.values())
        .select_related("poll")
        .prefetch_related("choices__reform")
        .order_by("-cast_at")
        .first()
    )
    if ballot is None:
        return redirect("ballots:vote")
    return render(request, "ballots/vote_done.html", {"ballot": ballot, "poll": ballot.poll})


def _time_left(poll, now):
    """ "2天3小时30分钟" / "2 days 3 hours 30 minutes", leaving out parts that are zero."""
    if poll.closes_at is None:
        return None
    seconds = max(0, int((poll.closes_at - now).total_seconds()))
    days, seconds = divmod(seconds, 24 * 3600)
    hours, seconds = divmod(seconds, 3600)
    minutes = seconds // 60
    parts = [
        ngettext("%(count)d天", "%(count)d天", days) % {"count": days} if days else "",
        ngettext("%(count)d小时", "%(count)d小时", hours) % {"count": hours} if hours else "",
        ngettext("%(count)d分钟", "%(count)d分钟", minutes) % {"count": minutes} if minutes else "",
    ]
    # Chinese writes the parts together; English puts a space between them.
    return pgettext("time parts", "").join(part for part in parts if part) or _("不足1分钟")


@require_safe
@public_page
def results(request):
    """Turnout while voting is open; the ranked result once closed (or earlier, if staff allow).

    Reads the running counts (ballots.tally.tally): a few rows whatever the number of ballots.
    """
    poll = Poll.objects.for_results()
    context = {"poll": poll}
    if poll is not None:
        status = poll.status
        visible = status == PollStatus.CLOSED or (
            status == PollStatus.OPEN and poll.results_visible_while_open
        )
        context["result"] = tally(poll) if visible else None
        if status == PollStatus.OPEN:
            context["time_left"] = _time_left(poll, timezone.now())
    return render(request, "ballots/results.html", context)
