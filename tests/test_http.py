"""Request shape (responses) and error mapping of the four clients."""

import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

import genstatus_sync as gs
from genstatus_sync import testing
from genstatus_sync._http import parse_retry_after

from .conftest import KEY
from .examples import CLIPIA, RIVYA, SELLERPIC, SIVI

CLIENTS = {"sivi": gs.SiviClient, "rivya": gs.RivyaClient, "sellerpic": gs.SellerPicClient,
           "clipia": gs.ClipiaClient}


def make(provider, **kwargs):
    kwargs.setdefault("api_key", KEY)
    client = CLIENTS[provider](**kwargs)
    client._sleep = lambda seconds: None
    return client


@responses.activate
def test_sivi_request_shape():
    responses.get("https://connect.sivi.ai/api/prod/v2/enterprise/get-request-status",
                  json=SIVI["In-Progress Request"])
    status = make("sivi").get_status("sbhMkIZKCPp")
    assert status.progress == 45
    (call,) = responses.calls
    assert call.request.method == "GET"
    assert call.request.url == (
        "https://connect.sivi.ai/api/prod/v2/enterprise/get-request-status"
        "?queryParams=%7B%22requestId%22%3A%22sbhMkIZKCPp%22%7D")
    assert call.request.headers["sivi-api-key"] == KEY
    assert "Authorization" not in call.request.headers
    assert call.request.headers["User-Agent"] == f"genstatus_sync/{gs.__version__}"


@responses.activate
def test_sivi_abstract_user_id_goes_in_the_json():
    responses.get("https://connect.sivi.ai/api/prod/v2/enterprise/get-request-status",
                  json=SIVI["Pending Request"])
    make("sivi").get_status("a b&c", abstract_user_id="281743-2322")
    query = parse_qs(urlsplit(responses.calls[0].request.url).query)
    assert json.loads(query["queryParams"][0]) == {"requestId": "a b&c",
                                                   "abstractUserId": "281743-2322"}


@pytest.mark.parametrize(
    ("job_id", "encoded"),
    [("task_public_id", "task_public_id"), ("a/b", "a%2Fb"), ("../x", "..%2Fx"),
     ("q?x#y", "q%3Fx%23y"), ("ünï", "%C3%BCn%C3%AF"), ("a b", "a%20b"), ("%2F", "%252F")],
)
@responses.activate
def test_rivya_id_is_one_encoded_segment(job_id, encoded):
    responses.get(f"https://rivya.ai/api/v1/generations/{encoded}",
                  json={**RIVYA["Succeeded Response"], "id": job_id})
    assert make("rivya").get_status(job_id).id == job_id
    request = responses.calls[0].request
    assert urlsplit(request.url).path == f"/api/v1/generations/{encoded}"
    assert request.headers["Authorization"] == f"Bearer {KEY}"


@responses.activate
def test_sellerpic_request_shape():
    responses.get("https://api.sellerpic.ai/v1/api/generate", json=SELLERPIC["200 - Example 1"])
    make("sellerpic").get_status("9223372036854775807")
    request = responses.calls[0].request
    assert request.url == "https://api.sellerpic.ai/v1/api/generate?id=9223372036854775807"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("bad", ["", "12a", "-1", "9223372036854775808", "1.5", "٣", 1.5, True,
                                 -1, None, "１２"])
def test_sellerpic_rejects_non_int64_ids_before_any_request(bad):
    with responses.RequestsMock() as mock, pytest.raises(gs.ConfigurationError):
        make("sellerpic").get_status(bad)
    assert not mock.calls


@responses.activate
def test_clipia_status_and_result_shape():
    rid = "764cabcf-b745-4b3e-ae38-1200304cf45b"
    responses.get(f"https://api.clipia.ai/v1/requests/{rid}/status", json=CLIPIA["Response 200"])
    responses.get(f"https://api.clipia.ai/v1/requests/{rid}",
                  json={"request_id": rid, "status": "COMPLETED",
                        "output": {"images": [{"url": "u1"}, {"url": "u2"}],
                                   "video": {"url": "v", "thumb": {"url": "t"}}}})
    client = make("clipia")
    assert client.get_status(rid).progress == 45
    result = client.get_result(rid)
    assert [c.request.headers["Authorization"] for c in responses.calls] == [f"Key {KEY}"] * 2
    from genstatus_sync.providers.clipia import output_urls
    assert list(output_urls(result.output)) == ["u1", "u2", "v", "t"]


@responses.activate
def test_clipia_result_202_is_result_not_ready():
    responses.get("https://api.clipia.ai/v1/requests/r1", status=202,
                  json={"request_id": "r1", "status": "IN_PROGRESS"})
    with pytest.raises(gs.ResultNotReady):
        make("clipia").get_result("r1")


@pytest.mark.parametrize("body", [b"", b"queued", b"\xff\xfe"])
def test_clipia_result_202_body_is_not_read(body):
    # the document gives no 202 body: an empty one (as 202s usually are) or any other is
    # "not ready", and a wait polls on to the result
    replies = iter([testing.Reply(202, {}, body), testing.json_reply(
        {"request_id": "r1", "status": "COMPLETED",
         "output": {"images": [{"url": "https://example.test/1.png"}]}})])

    def clipia(request):
        if request.url.endswith("/status"):
            return testing.json_reply({"request_id": "r1", "status": "COMPLETED"})
        return next(replies)

    client = gs.ClipiaClient(KEY, transport=testing.MockTransport(clipia),
                             sleep=lambda seconds: None)
    with pytest.raises(gs.ResultNotReady):
        client.get_result("r1")
    assert client.wait("r1", timeout=60).result_urls == ("https://example.test/1.png",)


def test_a_max_rate_at_its_least_is_accepted():
    assert gs.RivyaClient(api_key=KEY, max_rate=1e-9) is not None


@pytest.mark.parametrize("provider", ["sivi", "rivya", "clipia"])
@pytest.mark.parametrize("bad", ["", ".", "..", "x" * 1025, 7, None])
def test_bad_ids_are_rejected_before_any_request(provider, bad):
    with responses.RequestsMock() as mock, pytest.raises(gs.ConfigurationError):
        make(provider).get_status(bad)
    assert not mock.calls


@responses.activate
def test_base_url_prefix_is_kept_and_env_overrides(monkeypatch):
    monkeypatch.setenv("RIVYA_BASE_URL", "https://proxy.example/rivya/")
    monkeypatch.setenv("RIVYA_API_KEY", KEY)
    responses.get("https://proxy.example/rivya/api/v1/generations/t",
                  json=RIVYA["Succeeded Response"])
    client = gs.RivyaClient()
    assert client.get_status("t").status == "succeeded"
    assert repr(client) == "RivyaClient(provider='rivya', base_url='https://proxy.example/rivya')"


@pytest.mark.parametrize("provider", sorted(CLIENTS))
def test_missing_key_names_the_variable(provider):
    with pytest.raises(gs.ConfigurationError, match=f"{provider.upper()}_API_KEY"):
        CLIENTS[provider]()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"base_url": "http://api.example.com"}, "clear text"),
     ({"base_url": "ftp://x"}, "bad"), ({"base_url": "https://"}, "bad"),
     ({"base_url": "https://h:99999"}, "bad"), ({"base_url": "https://u:p@h"}, "credentials"),
     ({"timeout": None}, "hang"), ({"timeout": 0}, "timeout"), ({"timeout": (1, None)}, "timeout"),
     ({"timeout": "5"}, "timeout"), ({"max_retries": -1}, "max_retries"),
     ({"api_key": "a\r\nX-Evil: 1"}, "header"), ({"backoff": 3}, "Backoff"),
     ({"max_rate": 1e-10}, "max_rate"), ({"max_rate": 0}, "max_rate")],
)
def test_configuration_errors(kwargs, message):
    kwargs.setdefault("api_key", KEY)
    with pytest.raises(gs.ConfigurationError, match=message) as info:
        gs.RivyaClient(**kwargs)
    assert KEY not in str(info.value)


@pytest.mark.parametrize(("key", "says"), [
    ("sk-live-1234\r", "ends in a line end: a .env file with CRLF"),
    ("sk-live-1234\r\n", "ends in a line end"),
    ("sk-li\x00ve-1234", "character 6 is not"),
    ("sk-liv\u00e9-1234", "character 7 is not"),
])
def test_a_key_that_cannot_be_sent_says_where_without_showing_it(monkeypatch, key, says):
    # it said only "printable ASCII only"; a CRLF .env file leaves a \r at the key's end
    makers = [lambda: gs.RivyaClient(api_key=key)]
    if "\x00" not in key:  # (no environment holds one)
        monkeypatch.setenv("RIVYA_API_KEY", key)
        makers.append(gs.RivyaClient)
    for make in makers:
        with pytest.raises(gs.ConfigurationError, match=says) as info:
            make()
        assert "1234" not in str(info.value) and "sk-" not in str(info.value)


@pytest.mark.parametrize("url", ["http://localhost:8080", "http://127.0.0.5", "http://[::1]:9"])
def test_plain_http_is_allowed_for_loopback_only(url):
    assert gs.RivyaClient(api_key=KEY, base_url=url).base_url == url
    assert gs.RivyaClient(api_key=KEY, base_url="http://10.0.0.1",
                          allow_insecure=True).base_url == "http://10.0.0.1"


def test_callers_session_is_used_and_not_closed():
    session = requests.Session()
    closed = []
    session.close = lambda: closed.append(True)
    with gs.RivyaClient(api_key=KEY, session=session) as client:
        assert client.session is session
    assert not closed
    own = gs.RivyaClient(api_key=KEY)
    own_closed = []
    own.session.close = lambda: own_closed.append(True)
    own.close()
    assert own_closed


@pytest.mark.parametrize(
    ("status", "cls"),
    [(401, gs.AuthenticationError), (403, gs.PermissionDeniedError), (404, gs.NotFoundError),
     (429, gs.RateLimitError), (500, gs.ServerError), (503, gs.ServerError), (418, gs.APIError),
     (599, gs.ServerError), (600, gs.APIError), (999, gs.APIError)],
)
@responses.activate
def test_http_status_mapping_with_fields(status, cls):
    responses.get("https://rivya.ai/api/v1/generations/t", status=status,
                  json={"error": {"code": "some_code", "message": "Some message"}},
                  headers={"Retry-After": "7"})
    with pytest.raises(cls) as info:
        make("rivya", max_retries=0).get_status("t")
    exc = info.value
    assert type(exc) is cls
    assert (exc.status_code, exc.code, exc.message, exc.provider) == (
        status, "some_code", "Some message", "rivya")
    assert exc.retry_after == 7
    assert "Some message" in exc.body


@responses.activate
def test_rivya_not_found_code_is_not_found_error_whatever_the_status():
    responses.get("https://rivya.ai/api/v1/generations/t", status=400,
                  json={"error": {"code": "not_found", "message": "nope"}})
    with pytest.raises(gs.NotFoundError) as info:
        make("rivya").get_status("t")
    assert (info.value.status_code, info.value.code) == (400, "not_found")


@pytest.mark.parametrize("body", [{"error": None}, {"error": "oops"}, {"error": {"code": 7}},
                                  {"id": "t", "error": None}])
@responses.activate
def test_rivya_2xx_without_status_and_without_an_error_object_is_a_format_error(body):
    # found by the fuzz suite: {"error": null} with the status dropped was raised as an APIError
    responses.get("https://rivya.ai/api/v1/generations/t", json=body)
    with pytest.raises(gs.ResponseFormatError, match=r"\$\.status"):
        make("rivya").get_status("t")


@responses.activate
def test_rivya_not_found_object_with_a_200_is_not_found_error():
    responses.get("https://rivya.ai/api/v1/generations/t",
                  json={"error": {"code": "not_found", "message": "Task not found."}})
    with pytest.raises(gs.NotFoundError):
        make("rivya").get_status("t")


@pytest.mark.parametrize(("envelope", "cls"), [(401, gs.AuthenticationError),
                                               (404, gs.NotFoundError), (500, gs.ServerError),
                                               (400, gs.APIError)])
@responses.activate
def test_sivi_envelope_status_maps_like_http(envelope, cls):
    responses.get("https://connect.sivi.ai/api/prod/v2/enterprise/get-request-status",
                  json={"status": envelope, "body": {"message": "Envelope says no"}})
    with pytest.raises(cls) as info:
        make("sivi", max_retries=0).get_status("r")
    assert (info.value.status_code, info.value.message) == (envelope, "Envelope says no")


@pytest.mark.parametrize("body", [{"code": 40001, "msg": "Task failed", "success": False,
                                   "traceId": "tr-1", "data": None},
                                  {"code": 40001, "msg": "Task failed", "success": True,
                                   "traceId": "tr-1"},
                                  {"code": 0, "msg": "Task failed", "success": False,
                                   "traceId": "tr-1"}])
@responses.activate
def test_sellerpic_error_envelope_carries_code_msg_trace(body):
    responses.get("https://api.sellerpic.ai/v1/api/generate", json=body)
    with pytest.raises(gs.APIError) as info:
        make("sellerpic").get_status(5)
    assert (info.value.code, info.value.message, info.value.trace_id) == (
        body["code"], "Task failed", "tr-1")
    assert "tr-1" in str(info.value)


@pytest.mark.parametrize(("body", "expected"), [(b"<html>oops</html>", "not JSON"),
                                                (b"", "not JSON"),
                                                (b'{"id": "t", "status": 5}', "$.status"),
                                                (b"[" * 100000, "")])
@responses.activate
def test_bad_bodies_are_format_errors_with_status_and_snippet(body, expected):
    responses.get("https://rivya.ai/api/v1/generations/t", body=body, status=200)
    with pytest.raises(gs.ResponseFormatError) as info:
        make("rivya").get_status("t")
    assert expected in str(info.value)
    if expected == "not JSON":
        assert info.value.status_code == 200
        assert info.value.body == body.decode()


@responses.activate
def test_transport_errors_keep_the_cause_and_retry():
    responses.get("https://rivya.ai/api/v1/generations/t",
                  body=requests.ConnectionError("refused"))
    client = make("rivya", max_retries=2)
    sleeps = []
    client._sleep = sleeps.append
    with pytest.raises(gs.TransportError) as info:
        client.get_status("t")
    assert isinstance(info.value.__cause__, requests.ConnectionError)
    assert len(responses.calls) == 3
    assert len(sleeps) == 2
    assert 0.45 <= sleeps[0] <= 0.55 and 0.9 <= sleeps[1] <= 1.1


@responses.activate
def test_retries_honour_retry_after_then_succeed():
    url = "https://rivya.ai/api/v1/generations/t"
    responses.get(url, status=429, headers={"Retry-After": "3"}, json={})
    responses.get(url, status=503, json={})
    responses.get(url, json=RIVYA["Succeeded Response"])
    client = make("rivya")
    sleeps, now = [], [0.0]  # a virtual clock that the sleeps move on (the budget reads it)

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    client._sleep, client._clock = sleep, lambda: now[0]
    assert client.get_status("t").status == "succeeded"
    assert sleeps[0] == 3 and 0.9 <= sleeps[1] <= 1.1


@responses.activate
def test_no_retry_on_other_errors():
    # one rule: 500 is transient (retried, as inside a wait); 501 and other 4xx are not
    responses.get("https://rivya.ai/api/v1/generations/t", status=500, json={})
    with pytest.raises(gs.ServerError):
        make("rivya").get_status("t")
    assert len(responses.calls) == 3
    for status in (501, 400, 409):
        responses.replace(responses.GET, "https://rivya.ai/api/v1/generations/t", status=status,
                          json={})
        responses.calls.reset()
        with pytest.raises(gs.APIError):
            make("rivya").get_status("t")
        assert len(responses.calls) == 1


def test_retry_after_parsing():
    assert parse_retry_after("120") == 120
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-3") == 0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after(None) is None


ERROR_URLS = {
    "sivi": "https://connect.sivi.ai/api/prod/v2/enterprise/get-request-status",
    "rivya": "https://rivya.ai/api/v1/generations/job",
    "sellerpic": "https://api.sellerpic.ai/v1/api/generate",
    "clipia": "https://api.clipia.ai/v1/requests/job/status",
}


@pytest.mark.parametrize("provider", sorted(CLIENTS))
def test_key_never_leaks_on_any_error_path(provider, caplog):
    caplog.set_level(logging.DEBUG, logger="genstatus_sync")
    url = ERROR_URLS[provider]
    echo = {"error": {"code": "x", "message": f"bad key {KEY}"}, "msg": f"bad key {KEY}",
            "message": f"bad key {KEY}", "body": {"message": f"bad key {KEY}"},
            "status": 401, "code": 1, "success": False, "traceId": KEY}
    replies = [
        {"status": 401, "json": echo}, {"status": 403, "json": echo},
        {"status": 404, "json": echo}, {"status": 429, "json": echo},
        {"status": 500, "body": f"<html>{KEY}</html>"}, {"status": 200, "json": echo},
        {"status": 200, "body": f"not json {KEY}"},
        {"body": requests.ConnectionError(f"refused {KEY}?")},
        {"body": requests.ReadTimeout(f"slow {KEY}")},
        {"status": 200, "json": {"id": KEY, "status": 3, "request_id": 5, "code": 0,
                                 "success": True, "traceId": 1}},
    ]
    client = make(provider, max_retries=0)
    texts = [repr(client), str(client)]
    with responses.RequestsMock() as mock:
        for reply in replies:
            mock.get(url, **reply)
            with pytest.raises(gs.GenStatusError) as info:
                client.get_status("7")
            exc = info.value
            texts += [str(exc), repr(exc), str(getattr(exc, "body", "")),
                      str(getattr(exc, "message", "")), str(getattr(exc, "trace_id", ""))]
            mock.reset()
    texts += [record.getMessage() for record in caplog.records]
    assert caplog.records
    leaked = [t for t in texts if KEY in t]
    assert not leaked


def test_a_transport_error_raised_twice_is_named_once_per_provider():
    from genstatus_sync.testing import MockTransport

    down = gs.TransportError("connection refused")  # one object, raised on every try

    def handler(request):
        raise down

    client = gs.RivyaClient(api_key=KEY, transport=MockTransport(handler), max_retries=3,
                            sleep=lambda seconds: None)
    with pytest.raises(gs.TransportError) as info:
        client.get_status("job-1")
    assert str(info.value) == "rivya: connection refused"


def test_a_clipia_status_that_takes_the_waits_last_moment_ends_it_with_that_status():
    """COMPLETED arrives as the deadline passes: no result request is sent past it, and the
    WaitTimeout carries the status that said so (read as still running: no result yet)."""
    from genstatus_sync.testing import MockTransport, Reply

    from .clock import Clock

    clock = Clock(now=0.0)
    replies = [json.dumps({"status": "IN_PROGRESS", "request_id": "r1"}),
               json.dumps({"status": "COMPLETED", "request_id": "r1"})]

    def handler(request):
        body = replies.pop(0) if replies else ""
        if not replies:
            clock.now = max(clock.now, 1.6)  # the status reply comes at the wait's very end
        return Reply(200, {"Content-Type": "application/json"}, body.encode())

    transport = MockTransport(handler)
    client = gs.ClipiaClient(api_key=KEY, transport=transport, clock=clock, sleep=clock.sleep,
                             backoff=gs.Backoff(first_delay=0, initial=1.0, jitter=0))
    with pytest.raises(gs.WaitTimeout) as info:
        client.wait("r1", timeout=1.0)
    assert [urlsplit(r.url).path for r in transport.requests] == [
        "/v1/requests/r1/status", "/v1/requests/r1/status"]
    last = info.value.last
    assert last is not None and last.state is gs.State.RUNNING
    assert last.raw.status.value == "COMPLETED"


@pytest.mark.parametrize(("reply", "says"), [
    (testing.Reply(200, {}, '{"id": "t"}'), "body of str"),
    (testing.Reply("200", {}, b"{}"), "status of str"),
    (testing.Reply(503, {"Retry-After": 1}, b"{}"), "header"),
])
def test_a_malformed_reply_from_a_mock_handler_is_named_at_once(reply, says):
    client = gs.RivyaClient(KEY, transport=testing.MockTransport(lambda request: reply),
                            max_retries=0)
    with pytest.raises(TypeError, match=says):
        client.get_status("t")


def test_a_reply_nested_deeper_than_any_provider_sends_is_refused_before_decoding():
    # 100,000 levels went to the decoder, which stopped at the recursion limit: at that depth
    # anything else running (a finalizer collected then) failed with RecursionError too
    for depth, refused in ((201, True), (5000, True), (150, False)):
        body = b'{"id": "t", "status": "running", "x": ' + b"[" * depth + b"]" * depth + b"}"
        client = gs.RivyaClient(KEY, max_retries=0, transport=testing.MockTransport(
            lambda request, body=body: testing.Reply(200, {}, body)))
        if refused:
            with pytest.raises(gs.ResponseFormatError, match="nested too deeply"):
                client.get_status("t")
        else:
            client.get_status("t")  # (an unknown field, however deep, is no error)


def test_the_nesting_check_reads_a_string_left_open_once():
    # '"\\"\\"...' left open: each quote started a match that read to the end of the body and
    # failed, a time quadratic in its size (a 1 MB body would have taken half an hour); a
    # string left open now runs to the end at once, and its brackets count for nothing
    from genstatus_sync import _strict

    _strict._check_depth("[" * 150 + '"' + '\\"' * 1000 + "[" * 300)  # (inside the string)
    _strict._check_depth("[" * 150 + '"\\\\"' + "]" * 150)  # (an escaped backslash ends it)
    with pytest.raises(_strict.Declined):
        _strict._check_depth("[" * 150 + '"\\\\"' + "[" * 51)
    body = b"[" * 201 + b'"\\' * 500_000  # 1 MB
    client = gs.RivyaClient(KEY, max_retries=0, transport=testing.MockTransport(
        lambda request: testing.Reply(200, {}, body)))
    with pytest.raises(gs.ResponseFormatError, match="nested too deeply"):
        client.get_status("t")


def test_the_nesting_check_reads_a_utf16_body_as_the_decoder_does():
    # json.loads reads UTF-16 and UTF-32 bodies too; their bytes were scanned as they came, where
    # U+2022 is the bytes 0x22 0x20: a '"', which hid 5,000 levels from the check, and the
    # decoder went down to the recursion limit (the check is there so that none comes near it)
    from genstatus_sync import _strict

    text = '{"id": "t", "status": "running", "x": ["\u2022", ' + "[" * 5000 + '"\u2022"' + \
        "]" * 5000 + "]}"
    for encoding in ("utf-16-le", "utf-16", "utf-32"):
        with pytest.raises(_strict.Declined, match="nested too deeply"):
            _strict.loads(text.encode(encoding))
    body = '{"id": "t", "status": "running", "x": "\u2022[["}'.encode("utf-16")
    client = gs.RivyaClient(KEY, max_retries=0, transport=testing.MockTransport(
        lambda request: testing.Reply(200, {}, body)))
    assert client.get_status("t").id == "t"  # (a '"' and brackets inside a string)


@pytest.mark.parametrize(("bad", "said"), [(-5, "got a negative number"),
                                           (2**63, "got a number out of range"),
                                           ("-5", "got '-5'")])
def test_a_sellerpic_id_refused_says_why(bad, said):
    # -5 is an int64: "out of range" read as a wrong bound; task ids are non-negative
    with pytest.raises(gs.ConfigurationError, match="non-negative int64") as info:
        make("sellerpic").get_status(bad)
    assert said in str(info.value)
