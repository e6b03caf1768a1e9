"""Reading feed files: JSON lines passed through byte for byte, CSV rows turned into JSON objects."""

import unicodedata
from pathlib import Path

import orjson
import pytest

from shared.events import decode_json, validate_event
from shared.feedfiles import FeedFileError, FeedRecord, count_records, read_feed_file

GOOD = (
    b'{"event_id":"bg-1","province":"B\xe1\xba\xafc Giang","indicator":"state_budget_revenue",'
    b'"as_of":"2024-03-31","value":"4.680","unit":"t\xe1\xbb\xb7 \xc4\x91\xe1\xbb\x93ng","mode":"ytd"}'
)
BROKEN = b'{"event_id": "bg-2", "province": "Bac Giang", "value": 4680'
SPACED = b'  {"event_id": "bg-3",   "value": 1}  '


def test_json_lines_pass_through_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "feed.bac-giang.jsonl"
    path.write_bytes(GOOD + b"\n\n" + BROKEN + b"\r\n   \n" + SPACED + b"\n[1, 2]")
    records = list(read_feed_file(path))
    assert records == [
        FeedRecord(1, GOOD),
        FeedRecord(3, BROKEN),
        FeedRecord(5, SPACED),
        FeedRecord(6, b"[1, 2]"),
    ]
    assert count_records(path) == 4


@pytest.mark.parametrize("suffix", [".ndjson", ".json", ".JSONL"])
def test_other_json_lines_suffixes(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"feed{suffix}"
    path.write_bytes(GOOD + b"\n")
    assert [r.value for r in read_feed_file(path)] == [GOOD]


def test_json_lines_leading_bom_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD + b"\n" + GOOD + b"\n")
    assert [r.value for r in read_feed_file(path)] == [GOOD, GOOD]


CSV_TEXT = (
    "event_id,province,indicator,as_of,value,unit,mode,source,revision,ghi_chu\n"
    "bg-2024-q1-ngansach,Bắc Giang,state_budget_revenue,2024-03-31,4.680,tỷ đồng,ytd,"
    '"UBND tỉnh Bắc Giang, báo cáo quý I/2024",,\n'
    "\n"
    'bg-fdi,Bac Giang,investment_attracted,2024-03-15,"624,26",triệu USD,ytd,,1,ước tính\n'
    'hp-1,"Hải\nPhòng",public_investment_disbursed,2024-03-22,120,tỷ đồng,delta,,r2,\n'
    "ln-1,,new_jobs,2024-03-31,8.900,lao động,delta,,,\n"
)


def test_csv_rows_become_json_objects(tmp_path: Path) -> None:
    path = tmp_path / "lang-son.csv"
    nfd_text = unicodedata.normalize("NFD", CSV_TEXT)
    path.write_bytes(b"\xef\xbb\xbf" + nfd_text.encode("utf-8"))
    records = list(read_feed_file(path))
    assert [r.line for r in records] == [2, 4, 5, 7]
    first, second, third, fourth = (orjson.loads(r.value) for r in records)
    assert first == {
        "event_id": "bg-2024-q1-ngansach",
        "province": unicodedata.normalize("NFD", "Bắc Giang"),
        "indicator": "state_budget_revenue",
        "as_of": "2024-03-31",
        "value": "4.680",
        "unit": unicodedata.normalize("NFD", "tỷ đồng"),
        "mode": "ytd",
        "source": unicodedata.normalize("NFD", "UBND tỉnh Bắc Giang, báo cáo quý I/2024"),
    }
    assert second["value"] == "624,26"
    assert second["revision"] == 1
    assert "source" not in second
    assert second["ghi_chu"] == unicodedata.normalize("NFD", "ước tính")
    assert third["revision"] == "r2"  # kept as text: the ingest worker rejects it (wrong_type)
    assert third["province"] == unicodedata.normalize("NFD", "Hải\nPhòng")
    assert fourth["province"] == ""  # a required cell stays, empty: the ingest worker rejects it
    assert validate_event(decode_json(records[0].value)).value == "4.680"
    assert count_records(path) == 4


def test_csv_without_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_bytes(CSV_TEXT.replace("\n\n", "\n").replace("\n", "\r\n", 2).encode("utf-8"))
    records = list(read_feed_file(path))
    assert orjson.loads(records[0].value)["province"] == "Bắc Giang"
    assert len(records) == 4


def test_csv_row_with_wrong_cell_count_becomes_an_array(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_text(
        "event_id,province,indicator,as_of,value,unit,mode\n"
        "hp-1,Hải Phòng,public_investment_disbursed,2024-03-22,4,680,billion VND,delta\n",
        encoding="utf-8",
    )
    (record,) = read_feed_file(path)
    assert orjson.loads(record.value) == [
        "hp-1",
        "Hải Phòng",
        "public_investment_disbursed",
        "2024-03-22",
        "4",
        "680",
        "billion VND",
        "delta",
    ]


def test_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "feed.xlsx"
    path.write_bytes(b"")
    with pytest.raises(FeedFileError, match=r"feed\.xlsx.*unknown feed file format '\.xlsx'"):
        read_feed_file(path)
    with pytest.raises(FeedFileError, match="unknown feed file format"):
        count_records(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FeedFileError, match=r"absent\.jsonl: no such feed file"):
        read_feed_file(tmp_path / "absent.jsonl")
    with pytest.raises(FeedFileError, match=r"absent\.csv"):
        count_records(tmp_path / "absent.csv")


def test_csv_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_bytes("event_id,province\nx,Bắc Giang\n".encode() + b"y,H\xe0 N\xf4i\n")  # latin-1
    with pytest.raises(FeedFileError, match=r"feed\.csv:3: not UTF-8"):
        list(read_feed_file(path))


def test_csv_header_with_duplicate_column(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_text("event_id,value,value\na,1,2\n", encoding="utf-8")
    with pytest.raises(FeedFileError, match="names column 'value' twice"):
        list(read_feed_file(path))


def test_empty_files_have_no_records(tmp_path: Path) -> None:
    for name in ("a.jsonl", "b.csv"):
        (tmp_path / name).write_bytes(b"\n\n")
        assert list(read_feed_file(tmp_path / name)) == []
        assert count_records(tmp_path / name) == 0


def test_csv_plan_year_of_digits_is_an_integer(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_text(
        "event_id,province,indicator,as_of,value,unit,mode,plan_year\n"
        'a,Lạng Sơn,public_investment_disbursed,2025-01-31,"2.905,5",tỷ đồng,ytd,2024\n'
        'b,Lạng Sơn,public_investment_disbursed,2025-01-31,"2.905,5",tỷ đồng,ytd,\n'
        'c,Lạng Sơn,public_investment_disbursed,2025-01-31,"2.905,5",tỷ đồng,ytd,năm 2024\n',
        encoding="utf-8",
    )
    first, second, third = (orjson.loads(r.value) for r in read_feed_file(path))
    assert first["plan_year"] == 2024
    assert validate_event(first).plan_year == 2024
    assert "plan_year" not in second
    assert third["plan_year"] == "năm 2024"  # kept as text: the ingest worker rejects it (wrong_type)


def test_csv_header_is_case_sensitive_like_json_keys(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_text("event_id,Unit,unit\na,nghìn tỷ đồng,tỷ đồng\n", encoding="utf-8")
    (record,) = read_feed_file(path)
    assert orjson.loads(record.value) == {"event_id": "a", "Unit": "nghìn tỷ đồng", "unit": "tỷ đồng"}


def test_csv_header_duplicate_after_trimming(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_text("event_id,unit, unit\na,đồng,nghìn tỷ đồng\n", encoding="utf-8")
    with pytest.raises(FeedFileError, match="names column 'unit' twice"):
        list(read_feed_file(path))
