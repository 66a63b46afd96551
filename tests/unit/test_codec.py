"""The Avro codec: round trips, wire formats, typed errors on bad bytes, the registry format."""

from __future__ import annotations

import io
import json
import random
from datetime import datetime, timezone

import fastavro
import pytest
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from wavestream.codec import Decoded, record_for_topic
from wavestream.schemas import RECORD_NAMES
from wavestream.events import EVENT_TYPES, make_event, sha256_hex
from wavestream.exceptions import CodecError

pytestmark = pytest.mark.unit

T0 = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc)

POSTING = {
    "posting_id": "p-1",
    "title": "Data Engineer",
    "company": "Acme",
    "location": None,
    "description": "Build pipelines with Kafka and PostgreSQL.",
    "url": "https://example.com/jobs/1",
    "source": "postings.jsonl:12",
    "submitted_at": T0,
    "summary": None,
    "attributes": {"salary": "100k", "remote": "yes"},
}

RECORDS = {
    "Posting": POSTING,
    "StageCommand": {
        "command_id": "c-1",
        "posting_id": "p-1",
        "stage": "skills",
        "attempt": 2,
        "correlation_id": "corr-1",
        "causation_id": "e-9",
        "issued_at": T0,
        "not_before": datetime(2024, 5, 6, 7, 9, 0, tzinfo=timezone.utc),
        "workflow": "postings",
        "workflow_sha256": "ab" * 32,
        "posting": {**POSTING, "summary": "A data job."},
        "outputs": {"summarize": "A data job."},
        "epoch": 2,
    },
    "InteractionCommand": {
        "command_id": "cmd-1",
        "posting_id": "p-1",
        "action": "decide",
        "stage": "review",
        "decision": "approve",
        "reason": "looks good",
        "issued_by": "alice",
        "issued_at": T0,
        "correlation_id": "corr-1",
    },
    "PostingControl": {
        "posting_id": "p-1",
        "epoch": 1,
        "cancelled": True,
        "cancelled_at": T0,
        "changed_by": "cmd-1",
        "changed_at": T0,
        "decided": ["c-7"],
        "handled": ["cmd-0", "cmd-1"],
    },
}

PAYLOADS = {
    "PostingReceived": {"posting": POSTING},
    "InteractionCompleted": {
        "output": "Skills: Kafka", "output_sha256": sha256_hex("Skills: Kafka"), "duration_ms": 1234,
        "prompt_tokens": 321, "completion_tokens": 12, "actor_name": "smollm2", "actor_kind": "llm",
        "model_file": "smollm2.gguf", "model_sha256": "cd" * 32, "prompt_sha256": "ef" * 32,
    },
    "InteractionFailed": {
        "error_class": "retryable", "error_type": "TimeoutError", "message": "took too long",
        "duration_ms": 30000, "actor_name": "smollm2", "actor_kind": "llm", "will_retry": True,
    },
    "PostingRouted": {"from_stage": "summarize", "to_stage": "skills", "condition": "*"},
    "AwaitingDecision": {"stage": "review", "prompt": "Approve?"},
    "DecisionRecorded": {"decision": "approve", "decided_by": "alice"},
    "PostingCompleted": {"final_stage": "score", "status": "done"},
    "PostingRejected": {"reason": "no title", "source_file": "in.jsonl", "line": 7, "raw": "{}"},
    "PostingCancelled": {"reason": None},
    "CircuitOpened": {"actor_name": "smollm2", "failures": 5, "open_until": T0},
    "CircuitClosed": {"actor_name": "smollm2"},
    "CommandRejected": {"reason": "decide: the posting is not awaiting a decision at review", "command_id": "cmd-1",
                        "action": "decide", "stage": "review", "decision": "approve", "issued_by": "alice"},
}


def event(event_type: str, payload: dict | None = None) -> dict:
    return make_event(
        event_type, PAYLOADS[event_type] if payload is None else payload,
        posting_id="p-1", stage="skills", attempt=1, correlation_id="corr-1",
        causation_id="c-1", worker_id="skills-0", occurred_at=T0, workflow_sha256="ab" * 32,
    )


def crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO as the Avro specification writes it, independent of fastavro."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def test_every_record_type_has_a_sample():
    assert set(RECORDS) | {"InteractionEvent"} == set(RECORD_NAMES)
    assert set(PAYLOADS) == set(EVENT_TYPES)


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_record_round_trip(codec, name):
    data = codec.encode(name, RECORDS[name])
    decoded = codec.decode(data, expected=name)
    assert decoded == Decoded(name=name, value=RECORDS[name], schema_version="current")


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_round_trips_to_its_own_branch(codec, event_type):
    value = event(event_type)
    decoded = codec.decode(codec.encode("InteractionEvent", value), expected="InteractionEvent")
    assert decoded.value == value
    assert decoded.value["event_type"] == event_type


def test_look_alike_payloads_keep_their_event_type(codec):
    # PostingCancelled's only field is optional, so {} matches several branches; a
    # guessing writer would pick the wrong one.
    for event_type, payload in [("PostingCancelled", {}), ("CircuitClosed", {"actor_name": "a"})]:
        decoded = codec.decode(codec.encode("InteractionEvent", event(event_type, payload)))
        assert decoded.value["event_type"] == event_type
    assert codec.decode(codec.encode("InteractionEvent", event("PostingCancelled", {}))).value[
        "payload"] == {"reason": None}


def test_timestamps_accept_int_millis_and_decode_to_aware_utc(codec):
    millis = int(T0.timestamp() * 1000)
    value = {**POSTING, "submitted_at": millis}
    decoded = codec.decode(codec.encode("Posting", value)).value["submitted_at"]
    assert decoded == T0 and decoded.tzinfo is not None and decoded.utcoffset().total_seconds() == 0


def test_missing_optional_fields_take_their_defaults(codec):
    minimal = {"posting_id": "p", "title": "t", "description": "d", "submitted_at": T0}
    value = codec.decode(codec.encode("Posting", minimal)).value
    assert value["company"] is None and value["summary"] is None and value["attributes"] == {}


# ---------------------------------------------------------------------------- wire format


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_single_object_header_is_marker_and_crc64_fingerprint(codec, schemas, name):
    value = RECORDS.get(name) or event("PostingRouted")
    data = codec.encode(name, value)
    assert data[:2] == b"\xc3\x01"
    canonical = to_parsing_canonical_form(schemas.current[name].raw)
    assert data[2:10] == crc64_avro(canonical.encode()).to_bytes(8, "little")
    assert data[2:10] == bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    # The canonical form is standalone: it defines every named type it uses.
    assert parse_schema(json.loads(canonical))["name"] == f"wavestream.v1.{name}"


def test_crc64_matches_the_avro_spec_test_vector():
    # From the Avro test suite: fingerprint64 of the schema "int".
    assert crc64_avro(b'"int"') == 8247732601305521295


@pytest.mark.parametrize(
    ("topic", "record"),
    [("postings", "Posting"), ("stage.skills", "StageCommand"), ("stage.skills.retry", "StageCommand"),
     ("commands", "InteractionCommand"), ("events", "InteractionEvent")],
)
def test_record_for_topic(topic, record):
    assert record_for_topic(topic) == record


@pytest.mark.parametrize("topic", ["deadletter", "stage.", "other"])
def test_record_for_unknown_topic_raises(topic):
    with pytest.raises(CodecError) as info:
        record_for_topic(topic)
    assert info.value.reason == "unknown_topic"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Posting", {k: v for k, v in POSTING.items() if k != "title"}),  # required field missing
        ("Posting", {**POSTING, "title": 42}),
        ("Posting", {**POSTING, "ttle": "typo"}),  # extra field
        ("Posting", {**POSTING, "submitted_at": "yesterday"}),
        ("Posting", None),
        ("InteractionCommand", {**RECORDS["InteractionCommand"], "action": "explode"}),
        ("StageCommand", {**RECORDS["StageCommand"], "attempt": 2**40}),
        ("InteractionEvent", event("PostingCancelled", {"actor_name": "a"})),  # wrong branch
        ("InteractionEvent", {**event("CircuitClosed"), "event_type": "Unknown"}),
        ("InteractionEvent", {**event("CircuitClosed"), "event_type": "Bogus"}),
        ("InteractionEvent", {**event("CircuitClosed"), "event_type": None}),
    ],
)
def test_invalid_record_raises_codec_error(codec, name, value):
    with pytest.raises(CodecError) as info:
        codec.encode(name, value)
    assert info.value.reason == "invalid_record"
    assert info.value.__cause__ is not None


def test_unknown_record_name_raises(codec):
    with pytest.raises(CodecError) as info:
        codec.encode("Nope", {})
    assert info.value.reason == "unknown_record"


# ---------------------------------------------------------------------------- decode errors


def reason_of(codec, data, expected=None) -> str:
    with pytest.raises(CodecError) as info:
        codec.decode(data, expected)
    return info.value.reason


def test_decode_error_reasons(codec, schemas):
    good = codec.encode("InteractionEvent", event("InteractionCompleted"))
    assert reason_of(codec, b"") == "truncated"
    assert reason_of(codec, b"\xc3") == "truncated"
    assert reason_of(codec, good[:9]) == "truncated"
    assert reason_of(codec, b"\x00\x00\x01") == "truncated"
    assert reason_of(codec, b"\x01" + good[1:]) == "bad_magic"
    assert reason_of(codec, b"\xc3\x02" + good[2:]) == "bad_magic"
    assert reason_of(codec, b'{"json": true}') == "bad_magic"
    assert reason_of(codec, b"\xc3\x01" + bytes(8) + good[10:]) == "unknown_schema"
    assert reason_of(codec, good[:-1]) == "corrupt_body"
    assert reason_of(codec, good + b"\x00") == "corrupt_body"
    assert reason_of(codec, good, expected="StageCommand") == "unexpected_type"
    assert reason_of(codec, b"\x00\x00\x00\x00\x07" + good[10:]) == "unknown_schema"  # no registry
    assert reason_of(codec, None) == "truncated"


def test_corrupt_body_wraps_the_underlying_error(codec):
    data = codec.encode("Posting", POSTING)
    with pytest.raises(CodecError) as info:
        codec.decode(data[:12])
    assert info.value.reason == "corrupt_body" and info.value.__cause__ is not None


def test_event_type_contradicting_payload_is_corrupt(codec, schemas):
    writer = schemas.current["InteractionEvent"]
    value = {**event("CircuitClosed"), "event_type": "PostingCompleted"}
    value["payload"] = ("wavestream.v1.CircuitClosed", value["payload"])
    buf = io.BytesIO(b"\xc3\x01" + writer.fingerprint)
    buf.seek(0, 2)
    fastavro.schemaless_writer(buf, writer.parsed, value)
    assert reason_of(codec, buf.getvalue()) == "corrupt_body"


def test_every_truncation_and_bit_flip_raises_only_codec_error(codec):
    rng = random.Random(1234)
    samples = [codec.encode(n, v) for n, v in RECORDS.items()]
    samples += [codec.encode("InteractionEvent", event(t)) for t in EVENT_TYPES]
    for data in samples:
        for cut in range(len(data)):
            with pytest.raises(CodecError):
                codec.decode(data[:cut])
        for _ in range(200):
            mutated = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(10, len(data))] ^= 1 << rng.randrange(8)
            try:
                assert isinstance(codec.decode(bytes(mutated)), Decoded)  # a flip may stay valid
            except CodecError as exc:
                assert exc.reason == "corrupt_body"  # the header was left intact


def test_random_bytes_raise_only_codec_error(codec, schemas):
    rng = random.Random(99)
    fingerprints = [s.fingerprint for s in schemas.by_fingerprint.values()]
    prefixes = [b"", b"\xc3\x01", b"\x00", *(b"\xc3\x01" + fp for fp in fingerprints)]
    outcomes = set()
    for _ in range(5000):
        data = rng.choice(prefixes) + rng.randbytes(rng.randrange(0, 64))
        try:
            codec.decode(data)
            outcomes.add("decoded")
        except CodecError as exc:
            outcomes.add(exc.reason)
    # The fuzz reached the body decoder, not only the header checks.
    assert {"corrupt_body", "bad_magic", "unknown_schema", "truncated"} <= outcomes
