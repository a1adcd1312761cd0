"""genstatus_sync.webhooks: pushes parsed as the clients parse replies, signatures verified,
and the webhook secret never shown. (Over real HTTP, from FakeProviders: tests/e2e.)"""

import base64
import email.message
import hashlib
import hmac
import json
import subprocess
import sys

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import genstatus_sync as gs
from genstatus_sync import webhooks
from genstatus_sync._config import check_job_id
from genstatus_sync.models import clipia, sivi
from genstatus_sync.testing import MockTransport, Reply
from genstatus_sync.webhooks import ClipiaSignature, parse, sign, verify, verify_clipia

from .examples import SIVI, SIVI_IMAGE
from .strategies import damaged, schema_bodies

SECRET = "whsec_CANARY-9d41f7c2-never-shown"
BODY = b'{"request_id":"764cabcf-b745-4b3e-ae38-1200304cf45b","status":"IN_PROGRESS"}'
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
REQUEST_ID = "764cabcf-b745-4b3e-ae38-1200304cf45b"


def clock(at=NOW):
    return lambda: at


def signed(body=BODY, secret=SECRET, timestamp=NOW):
    """(signature in hex, timestamp): what the default scheme sends."""
    return sign(body, secret, timestamp=timestamp), timestamp


def dumps(value):
    return json.dumps(value).encode()


# -- parse: Sivi ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SIVI))
@pytest.mark.parametrize("form", ["envelope", "bare body"])
def test_a_sivi_push_reads_as_a_poll_of_the_same_reply_does(name, form):
    reply = SIVI[name]
    push = reply if form == "envelope" else reply["body"]
    client = gs.SiviClient(api_key="k", transport=MockTransport(
        lambda request: Reply(200, {}, dumps(reply))))
    polled = client.poll("sbhMkIZKCPp")

    status = parse("sivi", dumps(push))

    assert status == polled  # eq leaves raw out; every normalized field is compared
    assert isinstance(status.raw, sivi.RequestStatus)
    assert status.job_id == "sbhMkIZKCPp"


def test_sivi_push_states_urls_and_reason():
    done = parse("sivi", dumps(SIVI["Completed Request"]))
    assert (done.state, done.result_urls, done.done) == (gs.State.SUCCEEDED, (SIVI_IMAGE,), True)
    failed = parse("sivi", dumps(SIVI["Failed Request"]["body"]))
    assert (failed.state, failed.error) == (gs.State.FAILED, "Image url invalid")
    running = parse("sivi", dumps(SIVI["In-Progress Request"]))
    assert (running.state, running.progress) == (gs.State.RUNNING, 45)


def test_a_sivi_envelope_that_is_not_200_is_no_status_push():
    push = {**SIVI["Completed Request"], "status": 500}
    with pytest.raises(gs.ResponseFormatError, match="envelope status is 500") as caught:
        parse("sivi", dumps(push))
    assert caught.value.provider == "sivi"


def test_a_sivi_status_unknown_to_the_spec_is_unknown_not_an_error():
    push = {"status": 200, "body": {"status": "archived", "requestId": "r"}}
    status = parse("sivi", dumps(push))
    assert status.state is gs.State.UNKNOWN and not status.done


# -- parse: Clipia --------------------------------------------------------------------------

def test_a_clipia_push_while_running_reads_as_its_status_poll():
    push = {"request_id": REQUEST_ID, "status": "IN_PROGRESS", "queue_position": None,
            "progress": 45, "logs": []}
    client = gs.ClipiaClient(api_key="k", transport=MockTransport(
        lambda request: Reply(200, {}, dumps(push))))

    status = parse("clipia", dumps(push))

    assert status == client.poll(REQUEST_ID)
    assert (status.state, status.progress, status.result_urls) == (gs.State.RUNNING, 45, ())
    assert isinstance(status.raw, clipia.WebhookEvent)


def test_a_completed_clipia_push_carries_its_output_urls_in_document_order():
    push = {"request_id": REQUEST_ID, "status": "COMPLETED", "progress": 100,
            "output": {"images": [{"url": "https://m.test/1.png"}, {"url": "https://m.test/2.png"}],
                       "video": {"url": "https://m.test/v.mp4", "note": "not a url key"}}}
    status = parse("clipia", dumps(push))
    assert status.state is gs.State.SUCCEEDED
    assert status.result_urls == ("https://m.test/1.png", "https://m.test/2.png",
                                  "https://m.test/v.mp4")
    assert status.raw.output == push["output"]


def test_a_completed_clipia_push_without_output_succeeds_with_no_urls():
    # Assumed: the final push carries the output; one without it leaves get_result to the user.
    status = parse("clipia", dumps({"request_id": REQUEST_ID, "status": "COMPLETED"}))
    assert (status.state, status.result_urls) == (gs.State.SUCCEEDED, ())


@pytest.mark.parametrize("value", ["FAILED", "ERROR", "CANCELLED"])
def test_a_failed_clipia_push_carries_its_error(value):
    push = {"request_id": REQUEST_ID, "status": value, "output": None, "error": "GPU on fire"}
    status = parse("clipia", dumps(push))
    assert (status.state, status.error, status.result_urls) == (gs.State.FAILED, "GPU on fire", ())


def test_clipia_queue_position_and_unknown_status():
    queued = parse("clipia", dumps({"request_id": REQUEST_ID, "status": "IN_QUEUE",
                                    "queue_position": 3}))
    assert (queued.state, queued.queue_position) == (gs.State.QUEUED, 3)
    odd = parse("clipia", dumps({"request_id": REQUEST_ID, "status": "PAUSED"}))
    assert odd.state is gs.State.UNKNOWN


# -- parse: what it refuses -----------------------------------------------------------------

@pytest.mark.parametrize("provider", ["sivi", "clipia"])
@pytest.mark.parametrize("body", [
    "{}", {"status": 200}, None, 17, bytearray(b"x"),
], ids=["str", "dict", "None", "int", "bytearray-not-json"])
def test_a_body_that_is_not_raw_json_bytes_is_a_response_format_error(provider, body):
    with pytest.raises(gs.ResponseFormatError) as caught:
        parse(provider, body)
    assert caught.value.provider == provider


@pytest.mark.parametrize("provider", ["sivi", "clipia"])
@pytest.mark.parametrize(("body", "says"), [
    (b"", "not JSON"),
    (b"<html>502</html>", "not JSON"),
    (b'{"status": "\xff\xfe"}', "not JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"[" + b"{}," * 150_000 + b"{}]", "too large to decode"),  # 450 KB -> 150,000 dicts
    (b"[]", "does not fit"),
    (b'"COMPLETED"', "does not fit"),
    (b'{"status": 7, "requestId": 1, "request_id": 2}', "does not fit"),
    (b'{"body": {"status": "complete"}}', "does not fit"),
])
def test_garbage_and_off_spec_bodies_are_response_format_errors(provider, body, says):
    with pytest.raises(gs.ResponseFormatError, match=says) as caught:
        parse(provider, body)
    assert caught.value.provider == provider
    assert caught.value.__cause__ is None
    assert "webhook body" in str(caught.value)


@pytest.mark.parametrize(("job_id", "says"), [
    ("", "cannot name a job"), ("..", "cannot name a job"), ("\\ud800", "not valid Unicode"),
    ("x" * 1025, "longer than 1024")])
@pytest.mark.parametrize("provider", ["sivi", "clipia"])
def test_a_push_naming_a_job_no_client_could_poll_is_a_response_format_error(provider, job_id,
                                                                            says):
    # its status went into the user's store under an id that poll() then refused (or that
    # could not even be written out as UTF-8)
    body = (b'{"requestId": "%s", "status": "complete"}' if provider == "sivi" else
            b'{"request_id": "%s", "status": "COMPLETED"}') % job_id.encode()
    with pytest.raises(gs.ResponseFormatError, match=says) as caught:
        parse(provider, body)
    assert caught.value.provider == provider
    # (a lone surrogate is refused with the body's other text, before the id is read)
    assert ("webhook body names no job" if "\\ud800" not in job_id else "lone surrogate") in (
        str(caught.value))
    good = body.replace(job_id.encode(), b"job-1") if job_id else body.replace(b'""', b'"job-1"')
    assert parse(provider, good).job_id == "job-1"


@pytest.mark.parametrize("provider", ["rivya", "sellerpic"])
def test_providers_without_webhooks_are_a_configuration_error(provider):
    with pytest.raises(gs.ConfigurationError, match="documents no webhooks"):
        parse(provider, b"{}")


@pytest.mark.parametrize("provider", ["Sivi", "fal", "", None])
def test_an_unknown_provider_is_a_configuration_error(provider):
    with pytest.raises(gs.ConfigurationError, match="unknown webhook provider") as caught:
        parse(provider, b"{}")
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(("provider", "schema", "pins"), [
    ("sivi", "WebhookEvent", {"status": 200}),
    ("sivi", "RequestStatus", {}),
    ("clipia", "WebhookEvent", {}),
])
def test_every_push_the_spec_admits_parses(provider, schema, pins):
    @given(schema_bodies(provider, schema, **pins))
    def check(body):
        fields = body.get("body", body) if provider == "sivi" else body
        job_id = fields["requestId" if provider == "sivi" else "request_id"]
        try:
            check_job_id(job_id)
        except gs.ConfigurationError:  # (the spec admits "", as it admits ".."): no job of ours
            with pytest.raises(gs.ResponseFormatError, match="names no job"):
                parse(provider, dumps(body))
            return
        status = parse(provider, dumps(body))
        assert status.provider == provider and isinstance(status.state, gs.State)
        assert status.job_id == job_id

    check()


@pytest.mark.parametrize(("provider", "schema"), [("sivi", "WebhookEvent"),
                                                  ("clipia", "WebhookEvent")])
def test_a_damaged_push_parses_or_is_a_response_format_error(provider, schema):
    @given(damaged(schema_bodies(provider, schema)))
    def check(body):
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + 2000)  # the deepest drawn bodies, written as JSON
        try:
            data = json.dumps(body).encode()
        finally:
            sys.setrecursionlimit(limit)
        try:
            parse(provider, data)
        except gs.ResponseFormatError as exc:
            assert exc.provider == provider

    check()


# -- verify: forms that pass ----------------------------------------------------------------

def _digest(body=BODY, secret=SECRET, timestamp=NOW):
    signed_content = body if timestamp is None else str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed_content, hashlib.sha256).digest()


@pytest.mark.parametrize("form", [
    lambda d: d.hex(),
    lambda d: d.hex().upper(),
    lambda d: base64.b64encode(d).decode(),
    lambda d: base64.b64encode(d).decode().rstrip("="),
    lambda d: base64.urlsafe_b64encode(d).decode(),
    lambda d: base64.urlsafe_b64encode(d).decode().rstrip("="),
    lambda d: "sha256=" + d.hex(),
    lambda d: "SHA256=" + base64.b64encode(d).decode(),
    lambda d: f"{'0' * 64},{d.hex()}",
    lambda d: f"sha256={'ab' * 32}, sha256={d.hex()}",
    lambda d: f"  {d.hex()}  not-a-digest\t{'f' * 64}",
], ids=["hex", "HEX", "base64", "base64-unpadded", "base64url", "base64url-unpadded",
        "sha256=hex", "SHA256=base64", "second-of-two", "prefixed-pair", "whitespace-list"])
def test_every_documented_signature_form_verifies(form):
    verify(BODY, form(_digest()), SECRET, timestamp=NOW, now=clock())


def test_the_body_alone_is_signed_when_no_timestamp_is_given():
    verify(BODY, _digest(timestamp=None).hex(), SECRET)
    with pytest.raises(gs.WebhookVerificationError, match="does not match"):
        verify(BODY, _digest(timestamp=None).hex(), SECRET, timestamp=NOW, now=clock())


@pytest.mark.parametrize("timestamp", [NOW, str(NOW), float(NOW), str(NOW).encode()])
def test_a_timestamp_as_int_str_or_whole_float_signs_its_digits(timestamp):
    verify(BODY, _digest().hex(), SECRET, timestamp=timestamp, now=clock())


def test_a_fractional_timestamp_is_signed_as_sent():
    verify(BODY, sign(BODY, SECRET, timestamp="1767225600.25"), SECRET,
           timestamp="1767225600.25", now=clock())
    verify(BODY, sign(BODY, SECRET, timestamp=1767225600.25), SECRET,
           timestamp="1767225600.25", now=clock())


def test_a_bytes_secret_is_the_key_a_str_secret_encodes_to():
    verify(BODY, _digest().hex(), SECRET.encode(), timestamp=NOW, now=clock())
    key = bytes(range(256))
    signature = hmac.new(key, BODY, hashlib.sha256).hexdigest()
    verify(BODY, signature, key)


def test_sign_writes_each_encoding():
    digest = _digest()
    assert sign(BODY, SECRET, timestamp=NOW) == digest.hex()
    assert sign(BODY, SECRET, timestamp=NOW, encoding="base64") == base64.b64encode(digest).decode()
    assert sign(BODY, SECRET, timestamp=NOW,
                encoding="base64url") == base64.urlsafe_b64encode(digest).decode()
    with pytest.raises(gs.ConfigurationError, match="encoding"):
        sign(BODY, SECRET, encoding="base32")


# -- verify: what it refuses ----------------------------------------------------------------

@pytest.mark.parametrize("change", [
    lambda: verify(BODY + b" ", *signed()[:1], SECRET, timestamp=NOW, now=clock()),
    lambda: verify(BODY, signed()[0], SECRET + "x", timestamp=NOW, now=clock()),
    lambda: verify(BODY, signed()[0], SECRET, timestamp=NOW + 1, now=clock()),
    lambda: verify(BODY, signed(secret="other")[0], SECRET, timestamp=NOW, now=clock()),
    lambda: verify(BODY, "0" * 64, SECRET, timestamp=NOW, now=clock()),
], ids=["tampered-body", "wrong-secret", "other-timestamp", "signed-with-another", "zeros"])
def test_a_changed_body_secret_or_timestamp_does_not_match(change):
    with pytest.raises(gs.WebhookVerificationError, match="does not match"):
        change()


@pytest.mark.parametrize(("at", "says"), [
    (NOW + 301, "301 s old"),
    (NOW + 300.4, "300.4 s old"),  # (it said "300 s old, more than the tolerance of 300 s")
    (NOW - 300.04, "300.04 s in the future"),
    (NOW + 10_000, "10000 s old"),
    (NOW - 301, "301 s in the future"),
])
def test_a_timestamp_outside_the_tolerance_either_way_is_refused(at, says):
    with pytest.raises(gs.WebhookVerificationError, match=says):
        verify(BODY, signed()[0], SECRET, timestamp=NOW, now=clock(at))


@pytest.mark.parametrize("at", [NOW - 300, NOW, NOW + 300])
def test_a_timestamp_within_the_tolerance_passes(at):
    verify(BODY, signed()[0], SECRET, timestamp=NOW, now=clock(at))


def test_tolerance_is_the_callers_and_none_skips_the_age_check():
    with pytest.raises(gs.WebhookVerificationError, match="tolerance of 5 s"):
        verify(BODY, signed()[0], SECRET, timestamp=NOW, tolerance=5, now=clock(NOW + 6))
    verify(BODY, signed()[0], SECRET, timestamp=NOW, tolerance=None, now=clock(NOW + 10**8))


def test_a_tolerance_of_true_is_no_number():
    with pytest.raises(gs.ConfigurationError, match=r"got True$"):
        verify(BODY, signed()[0], SECRET, timestamp=NOW, tolerance=True, now=clock())


def test_the_default_clock_is_the_wall_clock():
    import time

    stamp = int(time.time())
    verify(BODY, sign(BODY, SECRET, timestamp=stamp), SECRET, timestamp=stamp)
    with pytest.raises(gs.WebhookVerificationError, match="old"):
        verify(BODY, sign(BODY, SECRET, timestamp=stamp - 3600), SECRET, timestamp=stamp - 3600)


def test_the_signature_is_checked_before_the_age():
    # A forged push is reported as forged, whatever its timestamp says.
    with pytest.raises(gs.WebhookVerificationError, match="does not match"):
        verify(BODY, "ab" * 32, SECRET, timestamp=NOW, now=clock(NOW + 10**6))


@pytest.mark.parametrize("timestamp", [
    "", "abc", "-1", "+1767225600", "1e9", " 1767225600", "1767225600 ", "1767225600.",
    ".5", "١٧٦٧٢٢٥٦٠٠", "1" * 16, "0x10", float("nan"), float("inf"), -1, 10**20,
    10**400, -(10**5000),
], ids=lambda t: repr(t)[:20] if not isinstance(t, int) or abs(t) < 10**30 else "huge")
def test_a_timestamp_that_is_not_unix_seconds_is_refused(timestamp):
    with pytest.raises(gs.WebhookVerificationError, match="timestamp"):
        verify(BODY, signed()[0], SECRET, timestamp=timestamp, now=clock())


@pytest.mark.parametrize(("signature", "says"), [
    ("", "empty"),
    (" ,, \t", "empty"),
    ("zz", "not a SHA-256 digest"),
    ("a" * 63, "not a SHA-256 digest"),
    ("a" * 66, "not a SHA-256 digest"),
    (base64.b64encode(b"x" * 31).decode(), "not a SHA-256 digest"),
    (base64.b64encode(b"x" * 33).decode(), "not a SHA-256 digest"),
    ("sha256=", "not a SHA-256 digest"),
    ("sha1=" + "a" * 40, "not a SHA-256 digest"),
    ("t=1767225600,v1=" + "a" * 64, "not a SHA-256 digest"),
    (",".join(["a" * 64] * 17), "17 candidates"),
])
def test_garbage_signatures_are_refused(signature, says):
    with pytest.raises(gs.WebhookVerificationError, match=says):
        verify(BODY, signature, SECRET, timestamp=NOW, now=clock())


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"secret": ""}, "secret is empty"),
    ({"secret": b""}, "secret is empty"),
    ({"secret": None}, "secret must be str or bytes"),
    ({"secret": 12345}, "secret must be str or bytes"),
    ({"secret": "abc\ud800"}, "not valid text"),
    ({"body": BODY.decode()}, "raw bytes"),
    ({"body": None}, "raw bytes"),
    ({"body": json.loads(BODY)}, "raw bytes"),
    ({"signature": None}, "signature must be a str"),
    ({"timestamp": True}, "timestamp must be Unix seconds"),
    ({"timestamp": [NOW]}, "timestamp must be Unix seconds"),
    ({"tolerance": -1}, "tolerance"),
    ({"tolerance": float("nan")}, "tolerance"),
    ({"tolerance": "300"}, "tolerance"),
    ({"tolerance": 10**400}, "tolerance"),  # beyond a float
    ({"tolerance": -(10**5000)}, "tolerance"),  # beyond repr
    ({"now": NOW}, "now must be a function"),
])
def test_misuse_is_a_configuration_error(kwargs, says):
    args = {"body": BODY, "signature": signed()[0], "secret": SECRET, "timestamp": NOW,
            "now": clock(), **kwargs}
    with pytest.raises(gs.ConfigurationError, match=says):
        verify(args.pop("body"), args.pop("signature"), args.pop("secret"), **args)


# -- verify_clipia and ClipiaSignature ------------------------------------------------------

def test_the_default_scheme_round_trips_through_headers():
    headers = webhooks.DEFAULT_CLIPIA_SIGNATURE.headers(BODY, SECRET, now=clock())
    assert headers == {"X-Clipia-Timestamp": str(NOW), "X-Clipia-Signature": _digest().hex()}
    verify_clipia(headers, BODY, SECRET, now=clock(NOW + 10))


@pytest.mark.parametrize(("reading", "says"), [
    (float("nan"), "got nan"), (float("inf"), "got inf"), ("x", "got 'x'"),
    (1e20, "out of range"), (-5, "out of range")])
def test_headers_from_a_clock_that_gives_no_unix_seconds_are_a_configuration_error(reading,
                                                                                     says):
    # (int() of it raised a bare ValueError or OverflowError, or a WebhookVerificationError,
    # which names the push as the fault)
    with pytest.raises(gs.ConfigurationError, match=says):
        webhooks.DEFAULT_CLIPIA_SIGNATURE.headers(BODY, SECRET, now=lambda: reading)


@pytest.mark.parametrize("case", [str.lower, str.upper, lambda name: name])
def test_header_names_match_case_insensitively(case):
    headers = {case(k): v for k, v in
               webhooks.DEFAULT_CLIPIA_SIGNATURE.headers(BODY, SECRET, now=clock()).items()}
    verify_clipia(headers, BODY, SECRET, now=clock())


def test_http_server_headers_work_and_several_signature_headers_are_candidates():
    message = email.message.Message()
    message["x-clipia-timestamp"] = f" {NOW} "
    message["X-Clipia-Signature"] = "ab" * 32  # a rotated-out secret's
    message["X-CLIPIA-SIGNATURE"] = _digest().hex()
    verify_clipia(message, BODY, SECRET, now=clock())


@pytest.mark.parametrize(("drop", "says"), [
    ("X-Clipia-Signature", "no X-Clipia-Signature header"),
    ("X-Clipia-Timestamp", "no X-Clipia-Timestamp header"),
])
def test_a_missing_header_is_refused(drop, says):
    headers = webhooks.DEFAULT_CLIPIA_SIGNATURE.headers(BODY, SECRET, now=clock())
    del headers[drop]
    with pytest.raises(gs.WebhookVerificationError, match=says):
        verify_clipia(headers, BODY, SECRET, now=clock())


def test_two_timestamp_headers_are_refused():
    message = email.message.Message()
    message["X-Clipia-Timestamp"] = str(NOW)
    message["X-Clipia-Timestamp"] = str(NOW + 1)
    message["X-Clipia-Signature"] = _digest().hex()
    with pytest.raises(gs.WebhookVerificationError, match="2 X-Clipia-Timestamp headers"):
        verify_clipia(message, BODY, SECRET, now=clock())


def test_a_stale_push_is_refused_by_its_header_timestamp():
    headers = webhooks.DEFAULT_CLIPIA_SIGNATURE.headers(BODY, SECRET, now=clock())
    with pytest.raises(gs.WebhookVerificationError, match="old"):
        verify_clipia(headers, BODY, SECRET, now=clock(NOW + 3600))
    verify_clipia(headers, BODY, SECRET, now=clock(NOW + 3600), tolerance=7200)


def test_a_tampered_body_or_a_wrong_secret_is_refused():
    headers = webhooks.DEFAULT_CLIPIA_SIGNATURE.headers(BODY, SECRET, now=clock())
    with pytest.raises(gs.WebhookVerificationError, match="does not match"):
        verify_clipia(headers, BODY.replace(b"IN_PROGRESS", b"COMPLETED"), SECRET, now=clock())
    with pytest.raises(gs.WebhookVerificationError, match="does not match"):
        verify_clipia(headers, BODY, "another-secret", now=clock())


def test_a_configured_scheme_names_its_headers_encoding_and_content():
    scheme = ClipiaSignature(header="Clipia-Sig", timestamp_header=None, encoding="base64",
                             signed="body")
    headers = scheme.headers(BODY, SECRET)
    assert headers == {"Clipia-Sig": base64.b64encode(_digest(timestamp=None)).decode()}
    verify_clipia(headers, BODY, SECRET, scheme=scheme)
    with pytest.raises(gs.WebhookVerificationError, match="no X-Clipia-Signature"):
        verify_clipia(headers, BODY, SECRET)
    custom = ClipiaSignature(header="X-Sig", timestamp_header="X-Time", encoding="base64url")
    verify_clipia(custom.headers(BODY, SECRET, now=clock()), BODY, SECRET, scheme=custom,
                  now=clock())


@pytest.mark.parametrize("kwargs", [
    {"encoding": "base32"},
    {"signed": "body.timestamp"},
    {"header": ""},
    {"header": None},
    {"timestamp_header": None},
    {"timestamp_header": " "},
])
def test_a_scheme_outside_the_known_forms_is_a_configuration_error(kwargs):
    with pytest.raises(gs.ConfigurationError):
        ClipiaSignature(**kwargs)


def test_the_scheme_is_a_frozen_value_with_the_documented_default():
    default = webhooks.DEFAULT_CLIPIA_SIGNATURE
    assert default == ClipiaSignature("X-Clipia-Signature", "X-Clipia-Timestamp", "hex",
                                      "timestamp.body")
    with pytest.raises(AttributeError):
        default.header = "X"  # type: ignore[misc]
    assert hash(default) == hash(ClipiaSignature())


@pytest.mark.parametrize(("headers", "scheme"), [
    (None, webhooks.DEFAULT_CLIPIA_SIGNATURE),
    ([("X-Clipia-Signature", "x")], webhooks.DEFAULT_CLIPIA_SIGNATURE),
    ({}, "X-Clipia-Signature"),
])
def test_verify_clipia_misuse_is_a_configuration_error(headers, scheme):
    with pytest.raises(gs.ConfigurationError):
        verify_clipia(headers, BODY, SECRET, scheme=scheme)


# -- properties -----------------------------------------------------------------------------

SECRETS = st.text(min_size=1, max_size=64) | st.binary(min_size=1, max_size=64)
TIMESTAMPS = st.none() | st.integers(0, 10**12) | st.integers(0, 10**12).map(str)
ENCODINGS = st.sampled_from(["hex", "base64", "base64url"])


@given(body=st.binary(max_size=2048), secret=SECRETS, timestamp=TIMESTAMPS, encoding=ENCODINGS)
def test_any_body_secret_and_timestamp_round_trip(body, secret, timestamp, encoding):
    signature = sign(body, secret, timestamp=timestamp, encoding=encoding)
    at = clock(0 if timestamp is None else int(timestamp))
    verify(body, signature, secret, timestamp=timestamp, now=at)
    verify(body, "sha256=" + signature, secret, timestamp=timestamp, now=at)


@given(body=st.binary(min_size=1, max_size=2048), secret=SECRETS, timestamp=TIMESTAMPS,
       data=st.data())
def test_any_single_byte_change_of_the_body_fails(body, secret, timestamp, data):
    signature = sign(body, secret, timestamp=timestamp)
    index = data.draw(st.integers(0, len(body) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]))
    changed = body[:index] + bytes([new]) + body[index + 1:]
    at = clock(0 if timestamp is None else int(timestamp))
    with pytest.raises(gs.WebhookVerificationError, match="does not match"):
        verify(changed, signature, secret, timestamp=timestamp, now=at)


@given(body=st.binary(max_size=256), secret=SECRETS, timestamp=st.integers(0, 10**12),
       other=st.integers(0, 10**12), data=st.data())
def test_another_timestamp_or_a_changed_signature_digit_fails(body, secret, timestamp, other,
                                                              data):
    assume(other != timestamp)
    signature = sign(body, secret, timestamp=timestamp)
    with pytest.raises(gs.WebhookVerificationError, match="does not match"):
        verify(body, signature, secret, timestamp=other, tolerance=None)
    index = data.draw(st.integers(0, len(signature) - 1))
    digit = data.draw(st.sampled_from("0123456789abcdef").filter(lambda c: c != signature[index]))
    with pytest.raises(gs.WebhookVerificationError, match="does not match"):
        verify(body, signature[:index] + digit + signature[index + 1:], secret,
               timestamp=timestamp, tolerance=None)


# -- the canary: the secret and the expected signature are never shown ----------------------

def _chain(exc):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


def _failures(secret):
    """Every way verification fails, with ``secret`` as the receiver's secret."""
    good = sign(BODY, secret, timestamp=NOW)
    headers = webhooks.DEFAULT_CLIPIA_SIGNATURE.headers(BODY, secret, now=clock())
    return [
        lambda: verify(BODY + b"!", good, secret, timestamp=NOW, now=clock()),
        lambda: verify(BODY, sign(BODY, "other", timestamp=NOW), secret, timestamp=NOW,
                       now=clock()),
        lambda: verify(BODY, good, secret, timestamp=NOW, now=clock(NOW + 999)),
        lambda: verify(BODY, good, secret, timestamp=NOW, now=clock(NOW - 999)),
        lambda: verify(BODY, good, secret, timestamp="soon", now=clock()),
        lambda: verify(BODY, "garbage", secret, timestamp=NOW, now=clock()),
        lambda: verify(BODY, "", secret),
        lambda: verify("text", good, secret),
        lambda: verify(BODY, good, secret, tolerance=-1),
        lambda: verify(BODY, good, secret + "\ud800"),
        lambda: verify_clipia({}, BODY, secret),
        lambda: verify_clipia({"X-Clipia-Signature": good}, BODY, secret),
        lambda: verify_clipia(headers, BODY[:-1], secret, now=clock()),
        lambda: verify_clipia(headers, BODY, secret, now=clock(NOW + 10**6)),
        lambda: verify_clipia(headers, BODY, secret, scheme="no"),
        lambda: sign(BODY, secret, encoding="rot13"),
        lambda: sign(BODY, secret, timestamp="x"),
    ]


@pytest.mark.parametrize("secret", [SECRET, "s", "0123456789abcdef" * 4])
def test_no_failure_shows_the_secret_or_the_expected_signature(secret):
    digest = hmac.new(secret.encode(), str(NOW).encode() + b"." + BODY, hashlib.sha256).digest()
    hidden = [secret, digest.hex(), digest.hex().upper(), base64.b64encode(digest).decode(),
              base64.urlsafe_b64encode(digest).decode().rstrip("=")]
    if len(secret) < 8:  # a one-letter secret is inside any message; the others must be kept out
        hidden.remove(secret)
    for index, failing in enumerate(_failures(secret)):
        with pytest.raises(gs.GenStatusError) as caught:
            failing()
        for exc in _chain(caught.value):
            shown = " ".join([str(exc), repr(exc), *map(repr, exc.args)])
            leaked = [value for value in hidden if value in shown]
            assert not leaked, (index, shown)


def test_the_scheme_keeps_no_secret():
    scheme = ClipiaSignature()
    scheme.headers(BODY, SECRET)
    assert SECRET not in repr(scheme) and SECRET not in repr(vars(scheme))


# -- the module: lazy, cheap to verify with -------------------------------------------------

def test_the_package_does_not_import_webhooks_and_verify_needs_only_the_standard_library():
    code = ("import sys, genstatus_sync; assert 'genstatus_sync.webhooks' not in sys.modules; "
            "from genstatus_sync import webhooks; "
            "webhooks.verify(b'x', webhooks.sign(b'x', 'k'), 'k'); "
            "print(sorted(m for m in ('requests', 'cattrs', 'attrs') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_public_names():
    for name in webhooks.__all__:
        assert getattr(webhooks, name) is not None
    assert set(webhooks.__all__) == {"DEFAULT_CLIPIA_SIGNATURE", "ClipiaSignature", "parse",
                                     "sign", "verify", "verify_clipia"}
    assert issubclass(gs.WebhookVerificationError, gs.GenStatusError)


# -- found in a review of the user-facing edges ---------------------------------------------

@pytest.mark.parametrize(("provider", "body"), [
    ("sivi", b'{"status": 200, "status": 500, "body": {}}'),
    ("clipia", b'{"request_id": "%s", "status": "COMPLETED", "status": "FAILED"}'
     % REQUEST_ID.encode()),
    ("clipia", b'{"request_id": "%s", "status": "FAILED", "error": {"a": 1, "a": 2}}'
     % REQUEST_ID.encode()),
])
def test_a_push_with_a_key_twice_in_an_object_is_refused_not_guessed(provider, body):
    # the last one won: another parser in front (a proxy, a WAF) may have read the first
    with pytest.raises(gs.ResponseFormatError, match="twice"):
        parse(provider, body)


@pytest.mark.parametrize("now", [lambda: "x", lambda: None, lambda: float("nan"),
                                 lambda: True])
def test_a_clock_that_gives_no_unix_seconds_is_a_configuration_error(now):
    headers = webhooks.DEFAULT_CLIPIA_SIGNATURE.headers(BODY, SECRET, now=clock())
    with pytest.raises(gs.ConfigurationError, match="now"):
        verify_clipia(headers, BODY, SECRET, now=now)


def test_a_timestamp_or_clock_in_milliseconds_is_named_as_such():
    # it said "... 1794613847494 s in the future (a clock off)", and a now() in milliseconds
    # refused every push as "s old (a replay, or a clock off)"
    stamp = int(NOW * 1000)
    headers = webhooks.DEFAULT_CLIPIA_SIGNATURE.headers(BODY, SECRET, now=lambda: stamp)
    with pytest.raises(gs.WebhookVerificationError, match="in milliseconds"):
        verify_clipia(headers, BODY, SECRET, now=clock())
    headers = webhooks.DEFAULT_CLIPIA_SIGNATURE.headers(BODY, SECRET, now=clock())
    with pytest.raises(gs.ConfigurationError, match="milliseconds"):
        verify_clipia(headers, BODY, SECRET, now=lambda: NOW * 1000)


def test_header_values_given_as_lists_are_candidates_and_other_types_are_named():
    headers = webhooks.DEFAULT_CLIPIA_SIGNATURE.headers(BODY, SECRET, now=clock())
    listed = {"X-Clipia-Timestamp": [headers["X-Clipia-Timestamp"]],
              "X-Clipia-Signature": ["ab" * 32, headers["X-Clipia-Signature"].encode()]}
    verify_clipia(listed, BODY, SECRET, now=clock())
    with pytest.raises(gs.ConfigurationError, match="X-Clipia-Timestamp.*int"):
        verify_clipia({**headers, "X-Clipia-Timestamp": NOW}, BODY, SECRET, now=clock())
