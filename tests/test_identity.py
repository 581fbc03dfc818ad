"""Phone and ID numbers: what is accepted, what is refused and why, and what is kept."""

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from verification.identity import (
    address_hash,
    id_number_hash,
    mask_phone,
    normalise_id_number,
    normalise_phone,
    phone_hash,
    phone_segment,
    truncated_network,
)


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "+8613812345678",
        "0086 13812345678",
        "86-138-1234-5678",
        "１３８１２３４５６７８",  # full-width digits from a Chinese input method
        "＋８６ １３８－１２３４－５６７８",
        " 13812345678\t",
    ],
)
def test_mainland_numbers_are_normalised(raw):
    assert normalise_phone(raw) == "13812345678"


@pytest.mark.parametrize(
    "raw",
    ["", "1381234567", "138123456789", "12812345678", "23812345678", "abc", "+1 13812345678",
     "138 1234 567a", "010-12345678"],
)  # fmt: skip
def test_other_numbers_are_refused_with_a_message(raw):
    with pytest.raises(ValidationError) as refused:
        normalise_phone(raw)
    assert "手机号码" in refused.value.messages[0]


@pytest.mark.parametrize("prefix", ["170", "171", "162", "165", "167"])
def test_virtual_operator_ranges_are_refused_and_told_why(prefix):
    with pytest.raises(ValidationError) as refused:
        normalise_phone(prefix + "12345678")
    assert "虚拟运营商" in refused.value.messages[0]


@override_settings(SMS_REFUSE_VIRTUAL_OPERATORS=False)
def test_virtual_operator_ranges_can_be_allowed():
    assert normalise_phone("17012345678") == "17012345678"


def test_masked_phone_shows_the_segment_and_never_the_last_four_digits():
    assert mask_phone("13812345678") == "1381234****"
    assert mask_phone("1381234") == "1381234****"  # the 号段 a session keeps is enough
    assert phone_segment("13812345678") == "1381234"


@pytest.mark.parametrize(
    "raw",
    [
        "13٨12345678",  # Arabic-Indic eight
        "13८12345678",  # Devanagari eight
        "13৮12345678",  # Bengali eight
        "①3812345678",  # circled one: NFKC would make it 1
        "¹3812345678",  # superscript one
        "𝟏3812345678",  # mathematical bold one
    ],
)
def test_only_ascii_and_full_width_digits_make_a_phone_number(raw):
    with pytest.raises(ValidationError) as refused:
        normalise_phone(raw)
    assert "请输入11位中国大陆手机号码" in refused.value.messages[0]


@pytest.mark.parametrize("raw", ["3703٠٣١٩٩٠٠٣٠٧١٢٣5", "3703०३१९९००३०७१२३5", "①70303199003071235"])
def test_only_ascii_and_full_width_digits_make_an_id_number(raw):
    with pytest.raises(ValidationError) as refused:
        normalise_id_number(raw)
    assert "请输入18位居民身份证号码" in refused.value.messages[0]


def test_full_width_x_is_the_check_digit_x():
    assert normalise_id_number("11010519491231002ｘ") == "11010519491231002X"


def test_hashes_are_keyed_and_hide_the_number():
    digest = phone_hash("13812345678")
    assert len(digest) == 64 and "13812345678" not in digest
    assert phone_hash("13812345678") == digest
    assert phone_hash("13812345679") != digest
    with override_settings(CITIZEN_HASH_KEY="another-key-entirely-" + "z" * 20):
        assert phone_hash("13812345678") != digest
    # A phone and an ID number that happen to share digits never share a hash.
    assert id_number_hash("13812345678") != digest


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("11010519491231002X", "11010519491231002X"),
        ("11010519491231002x", "11010519491231002X"),  # lower-case x accepted
        ("370303198506120030", "370303198506120030"),
        ("370303 19850612 0030", "370303198506120030"),
        ("３７０３０３１９８５０６１２００３０", "370303198506120030"),
        ("370302200002290013", "370302200002290013"),  # 29 February in a leap year
    ],
)
def test_valid_id_numbers(raw, expected):
    assert normalise_id_number(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "请输入居民身份证号码"),
        ("37030319850612003", "18位"),
        ("3703031985061200301", "18位"),
        ("37030319850612003A", "18位"),
        ("370303198506120031", "校验位不正确"),
        ("110105194912310021", "校验位不正确"),
        ("370303198502300034", "出生日期无效"),  # 30 February; check digit made valid
        ("370303299001010015", "出生日期无效"),  # born in 2990
    ],
)
def test_invalid_id_numbers_are_refused_with_the_reason(raw, message):
    with pytest.raises(ValidationError) as refused:
        normalise_id_number(raw)
    assert message in refused.value.messages[0]


def test_id_numbers_can_be_restricted_to_a_region():
    assert normalise_id_number("370303198506120030", ("3703",)) == "370303198506120030"
    with pytest.raises(ValidationError) as refused:
        normalise_id_number("11010519491231002X", ("3703",))
    assert "3703" in refused.value.messages[0]
    assert normalise_id_number("371302199001011233", ("3703", "3713")) == "371302199001011233"


@pytest.mark.parametrize(
    ("ip", "network"),
    [
        ("203.0.113.57", "203.0.113.0/24"),
        ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
        ("::ffff:203.0.113.57", "203.0.113.0/24"),  # IPv4-mapped: the IPv4 address it carries
        ("not an address", ""),
        ("", ""),
    ],
)
def test_addresses_are_kept_only_as_networks(ip, network):
    assert truncated_network(ip) == network


def test_limits_count_an_ipv4_mapped_address_as_its_ipv4_address():
    assert address_hash("::ffff:198.51.100.7") == address_hash("198.51.100.7")
    assert address_hash("::ffff:198.51.100.8") != address_hash("198.51.100.7")
    # One IPv6 customer (a /64) is one address for the limits.
    assert address_hash("2001:db8:1:2::1") == address_hash("2001:db8:1:2:ffff::9")
    assert address_hash("2001:db8:1:3::1") != address_hash("2001:db8:1:2::1")
