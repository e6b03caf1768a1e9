"""10,000 malformed and hostile feed messages: every one is dead-lettered with a reason, none becomes an update, and
the ingest worker neither crashes (one PID throughout, healthy at the end) nor grows past 400 MB RSS.

Each message is one kind of hostility on top of an otherwise valid event, so the reason it must get is known:
random bytes, empty and null (tombstone) values, JSON nested 10,000 levels deep, 1 MB strings, NaN/Infinity
literals, huge numbers, wrong JSON types, unicode tricks in province names (homoglyphs, zero-width characters,
right-to-left overrides, NFD, controls, private-use), dates far in the past or future, broken UTF-8, trailing
garbage, huge keys. A dead letter keeps the original key and value up to 64 KiB; bigger ones are left out with
their size (the broker could not take such a letter).

The unicode tricks are built on names no folding can map to a province (a Cyrillic or Greek letter in a real name,
a reversed name...): folding rightly maps NFD, zero-width characters, RTL marks, combining marks, full-width and
mathematical letters of a *real* name to that province, so those would be valid events.
"""

from __future__ import annotations

import asyncio
import random
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from shared.config import KafkaSettings
from shared.deadletter import MAX_KEPT_BYTES, DeadLetter
from shared.normalise import MAX_EVENT_BYTES, Reason
from shared.topics import DLQ, UPDATES, TopicSpec
from tests.faults.pipeline import INGESTED, Message, Stack, feed_body, processed, publish, read_topic

pytestmark = pytest.mark.kafka

TOTAL = 10_000
SEED = 1_000_000
#: Largest message published: the broker's default limit is 1 MB (1,048,588 bytes with the batch overhead).
BIG = 999_000
RSS_LIMIT_KB = 400 * 1024

NAMES = ("Bac Giang", "Ha Noi", "Lang Son", "Hai Phong", "Can Tho", "Da Nang", "Bac Ninh", "Quang Ninh", "Ca Mau")
#: Latin letter → look-alikes (Cyrillic, Greek, Cherokee, Latin script g): no Unicode folding maps them back.
HOMOGLYPHS = {
    "a": "аα",
    "c": "сϲ",
    "e": "е",
    "i": "іι",
    "o": "оο",
    "p": "р",
    "u": "υ",
    "g": "ɡ",  # Latin small script g: a letter of its own, not g
    "B": "ВΒ",
    "C": "СϹ",
    "D": "Ꭰ",  # Cherokee
    "H": "НΗ",
    "L": "Ꮮ",  # Cherokee
    "M": "МΜ",
    "N": "Ν",
    "Q": "Ԛ",
    "S": "Ѕ",
}
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad")
BIDI = ("\u202e", "\u202d", "\u202b", "\u2067", "\u200f", "\u061c")
CONTROLS = ("\x00", "\x07", "\x1b[31m", "\x7f", "\x85", "\x9b", "\x1f")
NOT_TEXT = ("\ue000", "\U000f0000", "\u0378", "\U0010fffd")  # private use, unassigned


def base(i: int, **fields: object) -> dict:
    body = feed_body(f"fz{i}", "Bắc Giang", "new_jobs", "người", as_of="2024-05-20", value=7)
    body.update(fields)
    return body


def homoglyph_name(rng: random.Random) -> str:
    name = list(rng.choice(NAMES))
    spots = [k for k, ch in enumerate(name) if ch in HOMOGLYPHS]
    for k in rng.sample(spots, rng.randint(1, min(3, len(spots)))):
        name[k] = rng.choice(HOMOGLYPHS[name[k]])
    text = "".join(name)
    # Layer the invisible tricks on top: they must not help the look-alike through.
    if rng.random() < 0.5:
        k = rng.randrange(len(text) + 1)
        text = text[:k] + rng.choice(ZERO_WIDTH) + text[k:]
    if rng.random() < 0.3:
        text = rng.choice(BIDI) + text
    if rng.random() < 0.3:
        text = unicodedata.normalize("NFD", text)
    return text


def tricky_province(rng: random.Random) -> tuple[str, str]:
    """A province name that looks like, or hides, a real one but names none; and the reason it must get."""
    name = rng.choice(NAMES)
    k = rng.randrange(1, len(name))
    tricks: list[Callable[[], tuple[str, str]]] = [
        lambda: (homoglyph_name(rng), Reason.UNKNOWN_PROVINCE),
        # Right-to-left override + the name reversed: shows as the real name, reads as another string.
        lambda: ("\u202e" + unicodedata.normalize("NFD", "Bắc Giang")[::-1], Reason.UNKNOWN_PROVINCE),
        lambda: ("\u202e" + name[::-1] + "\u202c", Reason.UNKNOWN_PROVINCE),
        lambda: (name[:k] + rng.choice(CONTROLS) + name[k:], Reason.UNKNOWN_PROVINCE),
        lambda: (name[:k] + rng.choice(NOT_TEXT) + name[k:], Reason.UNKNOWN_PROVINCE),
        lambda: ("".join(rng.choices(ZERO_WIDTH + BIDI, k=rng.randint(1, 20))), Reason.UNKNOWN_PROVINCE),
        lambda: (unicodedata.normalize("NFD", "Bắc Nimh") + rng.choice(ZERO_WIDTH), Reason.UNKNOWN_PROVINCE),
        lambda: ("Бắс Гіанг", Reason.UNKNOWN_PROVINCE),  # a real name, all Cyrillic
        # Invisible padding past the schema's 100 characters: the schema refuses it before any lookup.
        lambda: (name + "\u200b" * 120, Reason.INVALID_FIELD),
    ]
    text, reason = rng.choice(tricks)()
    return text, str(reason)


def hostile(i: int, rng: random.Random, kind: str) -> tuple[bytes | None, set[str]]:
    """One hostile message of ``kind`` and the reasons it may get (one, except for random bytes)."""
    event = base(i)
    match kind:
        case "random_bytes":
            return rng.randbytes(rng.randint(1, 300)), {"not_json", "not_an_object", "missing_field"}
        case "empty":
            return b"", {"not_json"}
        case "tombstone":
            return None, {"not_json"}
        case "deep":
            depth = 10_000
            shape = rng.choice(("array", "object", "in_value"))
            if shape == "array":
                return b"[" * depth + b"]" * depth, {"not_json"}
            if shape == "object":
                return b'{"a":' * depth + b"1" + b"}" * depth, {"not_json"}
            head, _, tail = orjson.dumps(base(i, value="@")).partition(b'"@"')
            return head + b"[" * depth + b"]" * depth + tail, {"not_json"}
        case "deep_ok":  # 1,000 levels: JSON parses, the schema refuses the value
            head, _, tail = orjson.dumps(base(i, value="@")).partition(b'"@"')
            return head + b"[" * 1000 + b"7" + b"]" * 1000 + tail, {"wrong_type"}
        case "huge_string":
            shape = rng.choice(("ascii", "controls", "escapes", "binary", "vietnamese"))
            filler = {
                "ascii": lambda n: "x" * n,
                "controls": lambda n: "\x01" * n,  # six bytes each once escaped in a dead letter
                "escapes": lambda n: '"\\' * (n // 2),
                "vietnamese": lambda n: "Bắc Giang " * (n // 13),
                "binary": None,
            }[shape]
            if filler is None:
                return rng.randbytes(BIG), {"too_large"}
            room = BIG - len(orjson.dumps(base(i, province="")))
            value = orjson.dumps(base(i, province=filler(room)))
            while len(value) > BIG:  # escapes take more room than one byte
                value = orjson.dumps(base(i, province=filler(room := room * 9 // 10)))
            return value, {"too_large"}
        case "just_too_large":
            pad = MAX_EVENT_BYTES + 1 - len(orjson.dumps(base(i, source="")))
            return orjson.dumps(base(i, source="s" * pad)), {"too_large"}
        case "at_limit":  # the largest event still parsed: its source is too long for the schema
            pad = MAX_EVENT_BYTES - len(orjson.dumps(base(i, source="")))
            return orjson.dumps(base(i, source="s" * pad)), {"invalid_field"}
        case "non_finite":
            literal = rng.choice((b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"1e400", b"-1e999", b"9" * 400))
            head, _, tail = orjson.dumps(base(i, value="@")).partition(b'"@"')
            return head + literal + tail, {"not_json"}
        case "huge_number":
            raw, reason = rng.choice(
                (
                    (b"1e300", "invalid_number"),
                    (b"-1.7976931348623157e308", "invalid_number"),
                    (b"18446744073709551616", "invalid_number"),  # 2^64: orjson reads it as a float
                    (b"9007199254740993.0", "invalid_number"),
                    (b'"1e400"', "invalid_number"),
                    (b'"1000000000000000000000001"', "invalid_number"),  # above 10^24
                    (b'"' + b"9" * 41 + b'"', "invalid_field"),  # the schema's 40 characters at most
                    (b'"NaN"', "invalid_number"),
                    (b'"Infinity"', "invalid_number"),
                    (b'"\\u0661\\u0662\\u0663"', "invalid_number"),  # Arabic-Indic digits
                )
            )
            head, _, tail = orjson.dumps(base(i, value="@")).partition(b'"@"')
            return head + raw + tail, {reason}
        case "wrong_type":
            field, value = rng.choice(
                (
                    ("event_id", 5),
                    ("event_id", None),
                    ("province", ["Bắc Giang"]),
                    ("province", 24),
                    ("indicator", {"id": "new_jobs"}),
                    ("as_of", 20240520),
                    ("value", True),
                    ("value", None),
                    ("value", [7]),
                    ("value", {"amount": 7}),
                    ("unit", 1),
                    ("mode", 1),
                    ("mode", None),
                    ("revision", "1"),
                    ("revision", 1.5),
                    ("revision", True),
                    ("source", 5),
                    ("source", ["a"]),
                )
            )
            return orjson.dumps(base(i, **{field: value})), {"wrong_type"}
        case "invalid_field":
            field, value = rng.choice(
                (
                    ("event_id", ""),
                    ("event_id", "e" * 201),
                    ("province", ""),
                    ("indicator", ""),
                    ("mode", "DELTA"),
                    ("mode", "cumulative"),
                    ("revision", -1),
                    ("source", "s" * 501),
                    ("unit", ""),
                    ("value", ""),
                )
            )
            return orjson.dumps(base(i, **{field: value})), {"invalid_field"}
        case "unicode_province":
            text, reason = tricky_province(rng)
            return orjson.dumps(base(i, province=text)), {reason}
        case "unicode_indicator":
            trick = rng.choice(("new_jobs\u200b", "new_јobs", "\u202enew_jobs", "NEW_JOBS", "new jobs", "new_jobs\x00"))
            return orjson.dumps(base(i, indicator=trick)), {"unknown_indicator"}
        case "date":
            future = (datetime.now(UTC) + timedelta(days=rng.randint(3, 3000))).date().isoformat()
            as_of, reason = rng.choice(
                (
                    ("0001-01-01", "impossible_date"),
                    ("1899-12-31", "impossible_date"),
                    ("1970-01-01", "impossible_date"),
                    ("1999-12-31", "impossible_date"),
                    ("9999-12-31", "impossible_date"),
                    ("2999-12-31T23:59:59Z", "impossible_date"),
                    (future, "impossible_date"),
                    ("2024-02-30", "impossible_date"),
                    ("2023-02-29", "impossible_date"),
                    ("2024-13-01", "impossible_date"),
                    ("2024-00-10", "impossible_date"),
                    ("2024-06-30T25:00:00", "impossible_date"),
                    ("2024-06-30T12:00:00+25:00", "impossible_date"),
                    ("10000-01-01", "invalid_field"),
                    ("2024-6-30", "invalid_field"),
                    ("２０２４-０６-３０", "invalid_field"),  # full-width digits
                    ("2024-06-30\u200b", "invalid_field"),
                    ("2024-06-30T12:00:00.1234567", "invalid_field"),
                    ("yesterday!", "invalid_field"),
                )
            )
            return orjson.dumps(base(i, as_of=as_of)), {reason}
        case "not_object":
            raw, reason = rng.choice(
                (
                    (b"[]", "not_an_object"),
                    (b'"event"', "not_an_object"),
                    (b"1", "not_an_object"),
                    (b"true", "not_an_object"),
                    (b"null", "not_an_object"),
                    (b"{}", "missing_field"),
                    (b'{"event_id": "x"}', "missing_field"),
                )
            )
            return raw, {reason}
        case "broken_utf8":
            shape = rng.choice(("invalid_byte", "surrogate", "bom", "trailing", "two_documents", "overlong"))
            good = orjson.dumps(event)
            raw = {
                "invalid_byte": good.replace("Bắc".encode(), b"B\xffc"),
                "surrogate": good.replace("Bắc".encode(), b"B\\ud800c"),
                "bom": b"\xef\xbb\xbf" + good,
                "trailing": good + b" x",
                "two_documents": good + good,
                "overlong": good.replace(b'"new_jobs"', b'"new\xc0\xafjobs"'),
            }[shape]
            return raw, {"not_json"}
        case "duplicate_keys":  # never last-key-wins: a key given twice is its own reason
            return orjson.dumps(event)[:-1] + b', "value": "four"}', {"duplicate_key"}
        case "huge_key":  # the value is small and bad; the key is huge (binary or control bytes)
            return orjson.dumps(base(i, province="Bac Nimh")), {"unknown_province"}
        case "negative":
            return orjson.dumps(base(i, value=rng.choice((-1, -0.001, "-4.680", "\u22127")))), {"negative_value"}
    raise AssertionError(kind)


#: Kind → share of the 10,000 messages.
KINDS = {
    "random_bytes": 1800,
    "empty": 50,
    "tombstone": 50,
    "deep": 60,
    "deep_ok": 100,
    "huge_string": 20,
    "just_too_large": 20,
    "at_limit": 10,
    "non_finite": 400,
    "huge_number": 800,
    "wrong_type": 1400,
    "invalid_field": 700,
    "unicode_province": 2000,
    "unicode_indicator": 300,
    "date": 1300,
    "not_object": 300,
    "broken_utf8": 500,
    "duplicate_keys": 90,
    "negative": 90,
    "huge_key": 10,
}


def hostile_key(i: int, rng: random.Random) -> bytes:
    size = rng.randint(MAX_KEPT_BYTES + 1, BIG - 1000)
    return rng.choice((rng.randbytes(size), b"\x01" * size, f"fz{i}".encode() * (size // 6)))


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


async def test_ten_thousand_hostile_messages_are_all_dead_lettered_and_the_worker_survives(
    kafka_settings: KafkaSettings, unique: str, tmp_path: Path
) -> None:
    assert sum(KINDS.values()) == TOTAL
    rng = random.Random(SEED)
    stack = Stack(kafka_settings.bootstrap_servers, unique, tmp_path)
    feed = stack.feed("fuzz")
    await stack.create_topics([TopicSpec(feed, 2)])
    kinds = [kind for kind, n in KINDS.items() for _ in range(n)]
    rng.shuffle(kinds)
    generated = [hostile(i, rng, kind) for i, kind in enumerate(kinds)]
    messages = [
        Message(feed, hostile_key(i, rng) if kind == "huge_key" else f"fz{i}".encode(), value, kind, f"fz{i}")
        for i, (kind, (value, _)) in enumerate(zip(kinds, generated, strict=True))
    ]
    assert all(len(m.key) + len(m.value or b"") <= 1_000_000 for m in messages)

    ingest = stack.ingest()
    started = time.monotonic()
    try:
        ingest.start()
        await asyncio.to_thread(ingest.wait_ready, 180)
        assert ingest.proc is not None
        pid = ingest.proc.pid
        rss_before = rss_kb(pid)
        origins = await publish(stack.plain, messages, slices=20)
        published_s = time.monotonic() - started

        deadline = time.monotonic() + 240
        while (done := await asyncio.to_thread(processed, ingest, INGESTED)) < TOTAL:
            assert ingest.proc.poll() is None, f"the ingest worker died\n{ingest.tail()}"
            assert time.monotonic() < deadline, f"{done:.0f} of {TOTAL} processed\n{ingest.tail()}"
            await asyncio.sleep(0.5)
        processed_s = time.monotonic() - started
        assert ingest.proc.poll() is None and ingest.proc.pid == pid, "one process throughout"
        assert (await asyncio.to_thread(ingest.get, "/health"))[0] == 200
        rss_after, rss_hwm = rss_kb(pid), rss_kb(pid, "VmHWM")
        assert rss_after < RSS_LIMIT_KB and rss_hwm < RSS_LIMIT_KB, (rss_before, rss_after, rss_hwm)

        outcomes = {o: ingest.metric(INGESTED, {"outcome": o}) for o in ("accepted", "duplicate", "rejected")}
        assert outcomes == {"accepted": 0, "duplicate": 0, "rejected": TOTAL}, outcomes
        letters = await read_topic(stack.ns, stack.ns.topic(DLQ.name))
        assert not await read_topic(stack.ns, stack.ns.topic(UPDATES.name)), "an update from a hostile message"
        by_origin = dict(zip(origins, zip(messages, generated, strict=True), strict=True))
        reasons: dict[tuple[str, int, int], str] = {}
        wrong: list[tuple[str, str, set[str]]] = []
        omitted_keys = 0
        codes = {r.value for r in Reason}
        for record in letters:
            letter = DeadLetter.decode(record.value)
            origin = (letter.origin.topic, letter.origin.partition, letter.origin.offset)
            message, (value, allowed) = by_origin[origin]
            kind = message.kind
            assert letter.reason in codes, letter.reason
            assert letter.message, origin
            if value is not None and len(value) > MAX_KEPT_BYTES:  # too large to keep: its size is
                assert (letter.value, letter.value_omitted) == (None, len(value)), f"{kind} at {origin}"
            else:
                assert letter.value == value, f"{kind} at {origin}: the original bytes are not kept"
            if len(message.key) > MAX_KEPT_BYTES:
                assert (letter.key, letter.key_omitted, record.key) == (None, len(message.key), None), origin
                omitted_keys += 1
            else:
                assert letter.key == message.key == record.key, origin
            if letter.reason not in allowed:
                wrong.append((kind, letter.reason, allowed))
            reasons[origin] = letter.reason
        assert not wrong, f"{len(wrong)} unexpected reasons, e.g. {wrong[:5]}"
        assert reasons.keys() == set(origins), f"{len(set(origins) - reasons.keys())} messages not dead-lettered"
        assert omitted_keys == KINDS["huge_key"]
        print(
            f"\n{TOTAL} hostile messages published in {published_s:.1f}s, all dead-lettered after {processed_s:.1f}s "
            f"({len(letters)} letters): {dict(Counter(reasons.values()).most_common())}; ingest pid {pid} kept, "
            f"RSS {rss_before // 1024} MB before, {rss_after // 1024} MB after, peak {rss_hwm // 1024} MB"
        )
    finally:
        stack.stop()
