"""Province registry: names in every spelling, codes across the 2025 merger, rollups and hostile input."""

from __future__ import annotations

import itertools
import pickle
import unicodedata
from datetime import date, datetime, timedelta
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.provinces import (
    MERGER_DATE,
    Province,
    ProvinceRegistry,
    UnknownProvinceError,
    normalise_name,
    registry,
)

PRE = date(2024, 6, 1)
POST = date(2025, 9, 1)
EVE = MERGER_DATE - timedelta(days=1)
HUE_RENAMED = date(2025, 1, 1)
CHANGED_CODES = ("15", "24", "44", "52", "80", "82", "91")


def _table() -> list[tuple[str, str, str, str]]:
    text = resources.files("shared").joinpath("data/provinces-2025.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    assert rows[0] == ["old_code", "old_name", "new_code", "new_name"]
    return [(old_code, old_name, new_code, new_name) for old_code, old_name, new_code, new_name in rows[1:]]


ROWS = _table()
NEW_UNITS = sorted({(new_code, new_name) for _, _, new_code, new_name in ROWS})
OLD_CODE_OF = {old_name: old_code for old_code, old_name, _, _ in ROWS}
NEW_CODE_OF = {old_name: new_code for _, old_name, new_code, _ in ROWS}
# Every official name with the code it has on PRE and on POST (all 34 new names were also pre-merger names).
OFFICIAL_NAMES = [(name, OLD_CODE_OF[name], NEW_CODE_OF[name]) for _, name, _, _ in ROWS] + [
    (name, OLD_CODE_OF[name], code) for code, name in NEW_UNITS
]


def _short(official: str) -> str:
    return official.removeprefix("Tỉnh ").removeprefix("Thành phố ")


def _bare(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("đ", "d").replace("Đ", "D")


def _spellings(official: str) -> list[str]:
    short, kind = _short(official), "city" if official.startswith("Thành phố") else "province"
    bare = _bare(short)
    prefixed = [f"TP. {short}", f"Tp.{bare}", f"Thanh pho {bare}"] if kind == "city" else [f"Tinh {bare}"]
    return [
        official,
        short,
        bare,
        short.upper(),
        bare.upper(),
        bare.lower(),
        unicodedata.normalize("NFD", official),
        f"  {short}\t {kind} ",
        f"{bare} {kind.title()}",
        f"Province of {bare}",
        bare.lower().replace(" - ", "-").replace(" ", "-"),
        *prefixed,
    ]


@pytest.fixture(scope="module")
def reg() -> ProvinceRegistry:
    return registry()


# --- the table ---


def test_table_sizes(reg: ProvinceRegistry) -> None:
    assert len(ROWS) == 63
    assert len(NEW_UNITS) == 34
    assert len(reg.pre_merger()) == 63
    assert len(reg.current()) == 34
    assert len(reg.all_units()) == 63 + 23 + 1  # 11 units cross the merger unchanged; plus Thừa Thiên Huế


def test_pre_merger_units_match_the_table(reg: ProvinceRegistry) -> None:
    units = reg.pre_merger()
    assert [u.code for u in units] == sorted(OLD_CODE_OF.values())
    assert {(u.code, u.official_name) for u in units} == {(code, name) for code, name, _, _ in ROWS}
    assert all(u.valid_on(EVE) for u in units)


def test_current_units_match_the_table(reg: ProvinceRegistry) -> None:
    units = reg.current()
    assert [(u.code, u.official_name) for u in units] == NEW_UNITS
    assert all(u.valid_to is None and u.successor is None and u.valid_on(MERGER_DATE) for u in units)


def test_untouched_units_are_one_unit_across_the_merger(reg: ProvinceRegistry) -> None:
    for code in ("01", "04", "20"):
        unit = reg.get(code, date(2000, 1, 1))
        assert unit is reg.get(code, POST)
        assert (unit.valid_from, unit.valid_to, unit.successor) == (None, None, None)
    untouched = [u for u in reg.current() if u.valid_from != MERGER_DATE]
    assert len(untouched) == 11
    assert all(reg.constituents(u.code) == (u,) for u in untouched)


def test_merged_units_end_and_a_new_unit_starts(reg: ProvinceRegistry) -> None:
    bac_giang, old_bac_ninh, new_bac_ninh = reg.get("24", PRE), reg.get("27", PRE), reg.get("24", POST)
    assert (bac_giang.name, bac_giang.valid_to, bac_giang.successor) == ("Bắc Giang", MERGER_DATE, "24")
    assert (old_bac_ninh.name, old_bac_ninh.valid_to, old_bac_ninh.successor) == (
        "Bắc Ninh",
        MERGER_DATE,
        "24",
    )
    assert (new_bac_ninh.official_name, new_bac_ninh.valid_from) == ("Tỉnh Bắc Ninh", MERGER_DATE)
    # Tuyên Quang kept code and name but absorbed Hà Giang: a new unit all the same.
    assert reg.get("08", EVE) != reg.get("08", MERGER_DATE)
    assert reg.get("08", EVE).name == reg.get("08", MERGER_DATE).name == "Tuyên Quang"


@pytest.mark.parametrize("code", CHANGED_CODES)
def test_code_changes_meaning_on_merger_date(reg: ProvinceRegistry, code: str) -> None:
    before, after = reg.resolve(code, EVE), reg.resolve(code, MERGER_DATE)
    assert before.code == after.code == code
    assert before.name != after.name
    assert before.official_name == next(name for old, name, _, _ in ROWS if old == code)
    assert after.official_name == dict(NEW_UNITS)[code]
    assert before.valid_to == after.valid_from == MERGER_DATE


def test_exactly_seven_codes_change_meaning(reg: ProvinceRegistry) -> None:
    changed = {u.code for u in reg.current() if reg.get(u.code, EVE).name != u.name}
    assert changed == set(CHANGED_CODES)


# --- names in every spelling ---


@pytest.mark.parametrize(
    ("official", "code_before", "code_after"),
    OFFICIAL_NAMES,
    ids=[f"{'old' if i < 63 else 'new'}-{_bare(_short(n))}" for i, (n, _, _) in enumerate(OFFICIAL_NAMES)],
)
def test_official_names_resolve_in_every_spelling(
    reg: ProvinceRegistry, official: str, code_before: str, code_after: str
) -> None:
    expected_before = "Tỉnh Thừa Thiên Huế" if official == "Thành phố Huế" else official
    expected_after = dict(NEW_UNITS)[code_after]
    for spelling in _spellings(official):
        before, after = reg.resolve(spelling, PRE), reg.resolve(spelling, POST)
        assert (before.code, before.official_name) == (code_before, expected_before), spelling
        assert (after.code, after.official_name) == (code_after, expected_after), spelling


@pytest.mark.parametrize(
    ("spelling", "on", "code"),
    [
        *[(s, POST, "79") for s in ("TP.HCM", "TPHCM", "TP HCM", "tp.hcm", "HCMC", "HCM", "HCM City")],
        *[(s, PRE, "79") for s in ("Ho Chi Minh City", "Sài Gòn", "Saigon", "SAI GON", "Thanh pho Ho Chi Minh")],
        *[(s, PRE, "01") for s in ("Hanoi", "Ha Noi", "HÀ NỘI", "T. Hà Nội", "Hanoi City")],
        *[(s, POST, "48") for s in ("Danang", "Da Nang", "Đà Nẵng city", "TP. Đà Nẵng")],
        *[(s, PRE, "66") for s in ("Daklak", "Dak Lak", "Đắc Lắc", "Dac Lac", "Đăk Lăk", "ĐẮK LẮK")],
        ("Dak Nong", PRE, "67"),
        ("Đắk Nông", POST, "68"),
        ("Haiphong", PRE, "31"),
        *[(s, PRE, "92") for s in ("Can Tho", "Cantho", "CẦN THƠ city")],
        *[(s, PRE, "77") for s in ("BR-VT", "BRVT", "Bà Rịa–Vũng Tàu", "Ba Ria Vung Tau", "Bà Rịa-Vũng Tàu")],
        ("BR-VT", POST, "79"),
        ("Bắc Cạn", PRE, "06"),
        ("Bac Ninh", PRE, "27"),
        ("Bac Ninh", POST, "24"),
        ("Bắc Giang", POST, "24"),
        ("bac-giang", PRE, "24"),
    ],
)
def test_aliases_and_variants(reg: ProvinceRegistry, spelling: str, on: date, code: str) -> None:
    assert reg.resolve(spelling, on).code == code


@pytest.mark.parametrize(
    ("spellings", "code"),
    [
        (("H\u00f2a B\u00ecnh", "Ho\u00e0 B\u00ecnh", "Hoa Binh"), "17"),  # Hòa / Hoà
        (("Thanh H\u00f3a", "Thanh Ho\u00e1", "Thanh Hoa"), "38"),  # Hóa / Hoá
        (("Kh\u00e1nh H\u00f2a", "Kh\u00e1nh Ho\u00e0", "Khanh Hoa"), "56"),
    ],
)
def test_old_and_new_tone_placement(reg: ProvinceRegistry, spellings: tuple[str, ...], code: str) -> None:
    assert len(set(spellings)) == len(spellings)
    assert {reg.resolve(s, PRE).code for s in spellings} == {code}


@pytest.mark.parametrize(
    ("spellings", "code"),
    [
        (("Đồng Nai", "Dong Nai", "đồng nai", "ĐỒNG NAI", "\u00d0\u1ed3ng Nai"), "75"),  # last: Ð (eth)
        (("Điện Biên", "Dien Bien", "dien bien"), "11"),
        (("Lâm Đồng", "Lam Dong", "lâm đồng"), "68"),
    ],
)
def test_d_with_and_without_stroke(reg: ProvinceRegistry, spellings: tuple[str, ...], code: str) -> None:
    assert {reg.resolve(s, PRE).code for s in spellings} == {code}


def test_slugs(reg: ProvinceRegistry) -> None:
    assert reg.get("24", PRE).slug == "bac-giang"
    assert reg.get("79", POST).slug == "ho-chi-minh"
    assert reg.get("77", PRE).slug == "ba-ria-vung-tau"
    assert reg.get("46", PRE).slug == "thua-thien-hue"
    assert reg.get("46", POST).slug == "hue"
    assert reg.get("66", POST).slug == "dak-lak"
    for units in (reg.pre_merger(), reg.current()):
        slugs = [u.slug for u in units]
        assert len(set(slugs)) == len(slugs)
        assert all(s.isascii() and s == s.lower() and " " not in s for s in slugs)
    for unit in reg.all_units():
        on = unit.valid_from or PRE
        assert reg.resolve(unit.slug, on) == unit


# --- Huế ---


def test_hue_rename_on_2025_01_01(reg: ProvinceRegistry) -> None:
    before = reg.resolve("Thừa Thiên Huế", date(2024, 12, 31))
    after = reg.resolve("Huế", HUE_RENAMED)
    assert (before.code, before.official_name, before.name) == ("46", "Tỉnh Thừa Thiên Huế", "Thừa Thiên Huế")
    assert (after.code, after.official_name, after.name) == ("46", "Thành phố Huế", "Huế")
    assert (before.valid_to, before.successor) == (HUE_RENAMED, "46")
    assert (after.valid_from, after.valid_to, after.successor) == (HUE_RENAMED, None, None)
    assert reg.resolve("46", PRE) == before
    assert reg.resolve("46", POST) == after  # unchanged by the merger
    assert after in reg.pre_merger() and after in reg.current() and before in reg.all_units()
    assert reg.rollup("46", PRE) == after
    assert reg.constituents("46") == (after,)


@pytest.mark.parametrize("spelling", ["Huế", "Hue", "Thừa Thiên Huế", "TT Huế", "TT-Huế", "Thua Thien Hue", "hue city"])
def test_every_hue_spelling_means_the_unit_of_the_day(reg: ProvinceRegistry, spelling: str) -> None:
    assert reg.resolve(spelling, date(2024, 12, 31)).official_name == "Tỉnh Thừa Thiên Huế"
    assert reg.resolve(spelling, HUE_RENAMED).official_name == "Thành phố Huế"
    assert reg.resolve(spelling, POST).official_name == "Thành phố Huế"


# --- codes, rollup, constituents ---


def test_codes_resolve_by_period(reg: ProvinceRegistry) -> None:
    assert reg.resolve("24", date(2024, 5, 1)).name == "Bắc Giang"
    assert reg.resolve("24", date(2025, 8, 1)).official_name == "Tỉnh Bắc Ninh"
    assert reg.resolve("27", date(2025, 8, 1)) == reg.get("24", date(2025, 8, 1))
    assert reg.resolve("1", PRE) == reg.resolve(" 01 ", PRE) == reg.get("1", PRE) == reg.resolve("Hà Nội", PRE)
    for unit in reg.all_units():
        on = unit.valid_from or PRE
        assert reg.resolve(unit.code, on) == reg.get(unit.code, on) == unit


@pytest.mark.parametrize("code", ["03", "00", "100", "abc", "", "２４"])
def test_unknown_codes(reg: ProvinceRegistry, code: str) -> None:
    with pytest.raises(UnknownProvinceError):
        reg.get(code, PRE)
    with pytest.raises(UnknownProvinceError):
        reg.rollup(code, PRE)


def test_get_does_not_follow_successors(reg: ProvinceRegistry) -> None:
    with pytest.raises(UnknownProvinceError, match="no unit has this code"):
        reg.get("27", POST)
    assert reg.rollup("27", POST) == reg.get("24", POST)


@pytest.mark.parametrize(("old_code", "old_name", "new_code", "new_name"), ROWS, ids=[r[0] for r in ROWS])
def test_rollup_matches_table(
    reg: ProvinceRegistry, old_code: str, old_name: str, new_code: str, new_name: str
) -> None:
    for on in (PRE, EVE):
        current = reg.rollup(old_code, on)
        assert (current.code, current.official_name, current.valid_to) == (new_code, new_name, None)
    assert reg.get(old_code, EVE) in reg.constituents(new_code)


def test_rollup_of_a_current_unit_is_itself(reg: ProvinceRegistry) -> None:
    for unit in reg.current():
        assert reg.rollup(unit.code, POST) == unit


def test_constituents(reg: ProvinceRegistry) -> None:
    assert [(u.code, u.name) for u in reg.constituents("24")] == [("24", "Bắc Giang"), ("27", "Bắc Ninh")]
    assert [u.code for u in reg.constituents("37")] == ["35", "36", "37"]
    assert [u.code for u in reg.constituents("20")] == ["20"]
    everything = sorted((u for c in reg.current() for u in reg.constituents(c.code)), key=lambda u: u.code)
    assert tuple(everything) == reg.pre_merger()
    with pytest.raises(UnknownProvinceError):
        reg.constituents("27")


# --- unknown and hostile input ---


def test_unknown_name_suggests_close_official_names(reg: ProvinceRegistry) -> None:
    with pytest.raises(UnknownProvinceError) as caught:
        reg.resolve("Bac Nimh", PRE)
    error = caught.value
    assert error.name == "Bac Nimh"
    assert error.suggestions[0] == "Bắc Ninh"
    assert 1 <= len(error.suggestions) <= 3
    assert str(error).startswith("unknown province 'Bac Nimh': did you mean Bắc Ninh")
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("Quang Nan", "Quảng Nam"),
        ("Sai gom", "Hồ Chí Minh"),
        ("Dong Thapp", "Đồng Tháp"),
        ("Thua Thien", None),
    ],
)
def test_suggestions_are_official_short_names(reg: ProvinceRegistry, name: str, suggestion: str | None) -> None:
    with pytest.raises(UnknownProvinceError) as caught:
        reg.resolve(name, POST)
    official = {u.name for u in reg.all_units()}
    assert set(caught.value.suggestions) <= official
    assert suggestion is None or suggestion in caught.value.suggestions


def test_unknown_without_suggestions(reg: ProvinceRegistry) -> None:
    with pytest.raises(UnknownProvinceError) as caught:
        reg.resolve("Atlantis", PRE)
    assert caught.value.suggestions == ()
    assert str(caught.value) == "unknown province 'Atlantis'"


@pytest.mark.parametrize(
    "value",
    [
        None,
        24,
        24.0,
        b"Ha Noi",
        ["Ha Noi"],
        "",
        "   ",
        "\t\n",
        "Tỉnh",
        "Thành phố",
        "x" * 101,
        "Hà Nội" * 20,
        "Bắc\x00Ninh",
        "\x1b[31mHà Nội",
        "\ud800",
        "\ue000",
        "Hà Nội\U000f0000",
        "🇻🇳",
        "\u200b",
        "Hà Nội 中",
        "001",
    ],
    ids=repr,
)
def test_bad_input_raises_unknown_province(reg: ProvinceRegistry, value: object) -> None:
    with pytest.raises(UnknownProvinceError) as caught:
        reg.resolve(value, PRE)  # type: ignore[arg-type]
    assert isinstance(caught.value.name, str)
    assert len(str(caught.value)) < 200


def test_long_input_skips_fuzzy_matching(reg: ProvinceRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object, **__: object) -> list[str]:
        raise AssertionError("difflib ran on over-long input")

    monkeypatch.setattr("shared.provinces.difflib.get_close_matches", fail)
    with pytest.raises(UnknownProvinceError) as caught:
        reg.resolve("Bac Ninh " * 50, PRE)
    assert caught.value.suggestions == ()
    assert "longer than 100 characters" in str(caught.value)


@pytest.mark.parametrize("on", [datetime(2025, 1, 1, 12), "2025-01-01", None])
def test_on_must_be_a_date(reg: ProvinceRegistry, on: object) -> None:
    with pytest.raises(TypeError):
        reg.resolve("Hà Nội", on)  # type: ignore[arg-type]


def test_error_survives_pickling() -> None:
    error = UnknownProvinceError("Bac Nimh", ("Bắc Ninh",), "some reason")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert (copy.name, copy.suggestions, copy.reason, str(copy)) == (
        error.name,
        error.suggestions,
        error.reason,
        str(error),
    )


# --- the matching key ---


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("TP. Hồ Chí Minh", "hochiminh"),
        ("Ho Chi Minh City", "hochiminh"),
        ("ho-chi-minh", "hochiminh"),
        ("Tỉnh Bà Rịa - Vũng Tàu", "bariavungtau"),
        ("Province of  BAC\tNINH", "bacninh"),
        ("Tinh Bac Ninh province", "bacninh"),
        ("Thành phố", "thanhpho"),
        ("Đắk Lắk", "daklak"),
        ("24", "24"),
        ("", ""),
        ("Bắc\x00Ninh", ""),
    ],
)
def test_normalise_name(text: str, key: str) -> None:
    assert normalise_name(text) == key


def test_normalise_name_is_memoised() -> None:
    assert normalise_name.cache_info().maxsize == 4096


# --- registries built from other tables ---

_HEADER = "old_code\told_name\tnew_code\tnew_name"
_SMALL = f"""# a comment
{_HEADER}
01\tThành phố Hà Nội\t01\tThành phố Hà Nội
24\tTỉnh Bắc Giang\t24\tTỉnh Bắc Ninh
27\tTỉnh Bắc Ninh\t24\tTỉnh Bắc Ninh
"""


def test_small_table() -> None:
    small = ProvinceRegistry.from_tsv(_SMALL, aliases={"Kinh Bắc": "Bắc Ninh"}, renames=())
    assert len(small.all_units()) == 4
    assert small.resolve("Kinh Bac", PRE).code == "27"
    assert small.resolve("Kinh Bac", POST).code == "24"
    assert [u.code for u in small.current()] == ["01", "24"]


@pytest.mark.parametrize(
    ("table", "aliases", "renames"),
    [
        ("01\tThành phố Hà Nội\t01\tThành phố Hà Nội\n", {}, ()),  # no header
        (f"{_HEADER}\n01\tThành phố Hà Nội\t01\n", {}, ()),  # short row
        (f"{_HEADER}\n01\tHà Nội\t01\tHà Nội\n", {}, ()),  # no Tỉnh/Thành phố prefix
        (f"{_HEADER}\n1\tThành phố Hà Nội\t1\tThành phố Hà Nội\n", {}, ()),  # one-digit code
        (f"{_HEADER}\n02\tTỉnh A\t01\tTỉnh B\n03\tTỉnh C\t01\tTỉnh D\n", {}, ()),  # new code, two names
        (_SMALL + "01\tThành phố Hà Nội\t01\tThành phố Hà Nội\n", {}, ()),  # code 01 twice at once
        (_SMALL + "30\tTỉnh Hà Nội\t31\tTỉnh Hải Phòng\n", {}, ()),  # two "Hà Nội" at once
        (_SMALL, {"Saigon": "Hồ Chí Minh"}, ()),  # alias to a missing province
        (_SMALL, {"Hanoi": "Bắc Ninh"}, ()),  # alias clashing with a name
        (_SMALL, {}, (("46", "Tỉnh Thừa Thiên Huế", date(2025, 1, 1)),)),  # rename of a missing code
    ],
)
def test_inconsistent_tables_are_rejected(
    table: str, aliases: dict[str, str], renames: tuple[tuple[str, str, date], ...]
) -> None:
    with pytest.raises(ValueError) as caught:
        ProvinceRegistry.from_tsv(table, aliases=aliases, renames=renames)
    assert not isinstance(caught.value, UnknownProvinceError)


def test_name_before_its_unit_existed() -> None:
    later = Province("01", "Hà Nội", "Thành phố Hà Nội", date(2030, 1, 1), None, None)
    with pytest.raises(UnknownProvinceError, match="no such unit on 2024-06-01"):
        ProvinceRegistry([later], aliases={}).resolve("Hà Nội", PRE)


# --- properties ---

_ALL_NAMES = sorted({u.official_name for u in registry().all_units()})
_ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=120)


@given(
    st.one_of(
        _ANY_TEXT,
        st.builds(lambda a, name, b: a + name + b, _ANY_TEXT, st.sampled_from(_ALL_NAMES), _ANY_TEXT),
        st.none(),
        st.integers(),
        st.binary(),
    ),
    st.dates(),
)
def test_arbitrary_input_resolves_or_raises_unknown(value: object, on: date) -> None:
    try:
        unit = registry().resolve(value, on)  # type: ignore[arg-type]
    except UnknownProvinceError as error:
        assert isinstance(error.name, str)
        assert str(error)
    else:
        assert isinstance(unit, Province)
        assert unit.valid_on(on)


@given(
    st.sampled_from(_ALL_NAMES),
    st.lists(st.booleans(), min_size=1, max_size=30),
    st.sampled_from([" ", "  ", "-", " - ", "\t", "_", " – ", "\u00a0"]),
    st.sampled_from(["NFC", "NFD"]),
    st.dates(),
)
def test_noisy_spellings_resolve_like_the_official_name(
    name: str, upper: list[bool], separator: str, form: str, on: date
) -> None:
    noisy = "".join(c.upper() if up else c.lower() for c, up in zip(name, itertools.cycle(upper), strict=False))
    noisy = unicodedata.normalize(form, separator.join(noisy.split(" ")))
    assert registry().resolve(noisy, on) == registry().resolve(name, on)


@given(_ANY_TEXT)
def test_normalise_name_is_idempotent(text: str) -> None:
    key = normalise_name(text)
    assert normalise_name(key) == key


# --- numeric junk is not a province; former parts of merged provinces ----------------------------------------------


@pytest.mark.parametrize(
    "text", ["2.4", "2 4", "T 24", "T.24", "1,2", "24.", "-24", "#24", "Tỉnh 24", "24 province", "0 1", "２４", "2½"]
)
def test_numeric_junk_is_not_a_province(reg: ProvinceRegistry, text: str) -> None:
    with pytest.raises(UnknownProvinceError, match="two digits and nothing else"):
        reg.resolve(text, PRE)
    with pytest.raises(UnknownProvinceError):
        reg.former_part(text, POST)


@pytest.mark.parametrize(
    "value", [["Bắc Giang"], {"name": "Bắc Giang"}, 24, None, "['Bắc Giang']", "{'name': 'Bắc Giang'}", '"Bắc Giang"']
)
def test_lists_and_mappings_are_not_provinces(reg: ProvinceRegistry, value: object) -> None:
    with pytest.raises(UnknownProvinceError):
        reg.resolve(value, PRE)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "code"), [("24", "24"), (" 1 ", "01"), ("01", "01"), ("8", "08")])
def test_lone_codes_still_resolve(reg: ProvinceRegistry, text: str, code: str) -> None:
    assert reg.resolve(text, PRE).code == code


@pytest.mark.parametrize(
    ("text", "former"),
    [
        ("Bắc Giang", ("24", "Bắc Giang")),
        ("bac giang province", ("24", "Bắc Giang")),
        ("27", ("27", "Bắc Ninh")),  # old Bắc Ninh's code: part of the merged Bắc Ninh (24)
        ("Hải Dương", ("30", "Hải Dương")),
        ("Hà Giang", ("02", "Hà Giang")),
        ("BR-VT", ("77", "Bà Rịa - Vũng Tàu")),
    ],
)
def test_former_part_of_a_merged_province(reg: ProvinceRegistry, text: str, former: tuple[str, str]) -> None:
    part = reg.former_part(text, POST)
    assert part is not None and (part.code, part.name) == former
    assert part.valid_to == MERGER_DATE
    assert reg.resolve(text, POST) == reg.get(part.successor or "", POST)


@pytest.mark.parametrize(
    ("text", "on"),
    [
        ("Bắc Ninh", POST),  # names the merged unit itself
        ("Bac Ninh", POST),
        ("24", POST),
        ("Hải Phòng", POST),
        ("Tuyên Quang", POST),
        ("Lạng Sơn", POST),
        ("Thừa Thiên Huế", POST),  # a rename, same territory
        ("Thừa Thiên Huế", HUE_RENAMED),
        ("46", POST),
        ("Bắc Giang", EVE),  # still exists
        ("27", EVE),
    ],
)
def test_not_a_former_part(reg: ProvinceRegistry, text: str, on: date) -> None:
    assert reg.former_part(text, on) is None
