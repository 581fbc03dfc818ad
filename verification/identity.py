"""Who a citizen is, reduced to what the rules need: a keyed hash, never the number itself.

Phone and resident ID numbers are checked and brought to one canonical form here (ASCII
digits), then kept only as HMAC-SHA256 under CITIZEN_HASH_KEY, a key that lives outside the
database: a stolen database alone cannot be turned back into phone numbers by hashing all
10^10 of them. The canonical form is the only one that leaves this module: it goes into the
hash, the mask, the limits and the SMS gateway alike, so one number is one citizen however it
was typed.
"""

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import secrets
from datetime import date
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from zibo_vote.http import parse_address

# What a Chinese input method types in full-width mode, folded to ASCII. Deliberately not
# Unicode's NFKC: that also turns ①, ¹ and 𝟏 into 1, and leaves the digits of other scripts
# (٣, ३), which `\d` matches, as they are. A number is written with 0-9 or nothing.
_FULL_WIDTH = str.maketrans("０１２３４５６７８９＋－Ｘｘ", "0123456789+-Xx")
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—]")
_MAINLAND_MOBILE = re.compile(r"(?:\+86|0086|86)?(1[3-9][0-9]{9})", re.ASCII)
_ID_NUMBER = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)

# Ranges sold to virtual operators (170/171/162/165/167). They are the usual source of bulk
# SMS-receiving services that ballot stuffers (刷票) rent by the thousand.
VIRTUAL_OPERATOR_PREFIXES = ("170", "171", "162", "165", "167")


def _canonical_characters(raw):
    """Full-width characters folded to ASCII, the documented separators dropped."""
    return _SEPARATORS.sub("", (raw or "").translate(_FULL_WIDTH))


def normalise_phone(raw):
    """'+86 138-1234-5678', '１３８１２３４５６７８' → '13812345678', or ValidationError."""
    value = _canonical_characters(raw)
    if not value:
        raise ValidationError(_("请输入手机号码。"), code="required")
    match = _MAINLAND_MOBILE.fullmatch(value)
    if match is None:
        raise ValidationError(
            _("请输入11位中国大陆手机号码，例如 138 1234 5678。"), code="invalid_phone"
        )
    phone = match.group(1)
    if settings.SMS_REFUSE_VIRTUAL_OPERATORS and phone.startswith(VIRTUAL_OPERATOR_PREFIXES):
        raise ValidationError(
            _(
                "本次投票暂不支持虚拟运营商号码（170、171、162、165、167号段），请使用在中国移动、"
                "中国联通、中国电信或中国广电办理的手机号码。"
            ),
            code="virtual_operator",
        )
    return phone


def phone_segment(phone):
    """13812345678 → 1381234: the 号段, which names an operator and a region, not a person."""
    return phone[:7]


def mask_phone(phone):
    """13812345678 → 1381234****: the most of a number that is ever stored, logged or shown.

    The 号段 and nothing else. The last four digits never leave this module: fraud review
    keeps each ballot's 号段, and a mask that showed the last four beside it (or anywhere the
    two could be joined through the phone's hash) would put the whole number at rest.
    Takes a whole number or just its 号段.
    """
    return f"{phone_segment(phone)}****"


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_DIGITS = "10X98765432"  # indexed by the weighted sum mod 11 (GB 11643-1999)


def id_check_digit(first17):
    return _ID_CHECK_DIGITS[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def normalise_id_number(raw, region_prefixes=()):
    """An 18-character resident ID number, valid check digit and birth date; or ValidationError.

    `region_prefixes` restricts the address code (e.g. ("3703",) for Zibo); empty allows all.
    """
    value = _canonical_characters(raw).upper()
    if not value:
        raise ValidationError(_("请输入居民身份证号码。"), code="required")
    if not _ID_NUMBER.fullmatch(value):
        raise ValidationError(
            _("请输入18位居民身份证号码（最后一位可能是字母X）。"), code="invalid_id_format"
        )
    if id_check_digit(value[:17]) != value[17]:
        raise ValidationError(
            _("身份证号码校验位不正确，请核对后重新输入。"), code="invalid_id_check_digit"
        )
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        born = None
    if born is None or born.year < 1900 or born > date.today():
        raise ValidationError(_("身份证号码中的出生日期无效。"), code="invalid_id_birth_date")
    if region_prefixes and not value.startswith(tuple(region_prefixes)):
        raise ValidationError(
            _("本次评选仅限本地居民参加，身份证号码须以 %(prefixes)s 开头，请核对。"),
            code="id_region",
            # The separator is translated too: "3703、3713", in English "3703, 3713".
            params={"prefixes": gettext("、").join(region_prefixes)},
        )
    return value


def normalise_code(raw):
    """A six-digit SMS code as typed (full-width digits, spaces) → '123456', or None."""
    value = _canonical_characters(raw)
    return value if re.fullmatch(r"[0-9]{6}", value, re.ASCII) else None


def citizen_hash(kind, value):
    """HMAC-SHA256 of a canonical phone or ID number (or an address), as 64 hex characters."""
    key = settings.CITIZEN_HASH_KEY.encode("utf-8")
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def phone_hash(phone):
    return citizen_hash("phone", phone)


def id_number_hash(id_number):
    return citizen_hash("id", id_number)


@lru_cache(maxsize=4)
def _sealing_key(secret):
    # A key of its own, derived from CITIZEN_HASH_KEY (outside the database) by HKDF, so the
    # HMAC key itself never encrypts anything.
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"zibo-vote pending phone v1")
    return hkdf.derive(secret.encode("utf-8"))


def seal_phone(phone, context):
    """A number (or what was typed for one) encrypted (AES-256-GCM) for a session to hold.

    What lets the code step offer 重新获取验证码 without the citizen typing the number again,
    and a form show again what was typed after a redirect. `context` (the pending code's
    nonce) is authenticated with it: a sealed value opens only for what it was sealed for.
    See docs/verification.md, "Identity at rest".
    """
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_sealing_key(settings.CITIZEN_HASH_KEY)).encrypt(
        nonce, phone.encode("utf-8"), context.encode("utf-8")
    )
    return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def unseal_phone(token, context):
    """The number `seal_phone` sealed for `context`, or None if it does not open (another
    context, another key, a damaged value)."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
        phone = AESGCM(_sealing_key(settings.CITIZEN_HASH_KEY)).decrypt(
            raw[:12], raw[12:], context.encode("utf-8")
        )
    except (AttributeError, ValueError, binascii.Error, InvalidTag):
        return None
    return phone.decode("utf-8")


def truncated_network(ip):
    """203.0.113.57 → 203.0.113.0/24; IPv6 → its /48: enough for fraud review, not a person."""
    address = parse_address(ip)
    if address is None:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def address_hash(ip):
    """What the rate limits count an address by: one IPv4 address, or one IPv6 customer.

    A keyed hash of the address (IPv4) or of its /64 (RATELIMIT_IPV6_MASK: one customer of an
    IPv6 provider usually holds a whole /64), so it can be kept with a code without keeping
    the address.
    """
    address = parse_address(ip)
    if address is None:
        return citizen_hash("address", ip or "")
    prefix = 32 if address.version == 4 else settings.RATELIMIT_IPV6_MASK
    return citizen_hash("address", ipaddress.ip_network(f"{address}/{prefix}", strict=False))
