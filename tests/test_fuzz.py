"""Property tests: every reply body, valid or damaged, parses or raises ResponseFormatError.

The bodies come from the specs (tests/strategies.py) and go through the clients' own parse
path: ``poll`` (and Clipia's ``get_result``) with the HTTP layer replaced by the body. Sivi's
SellerPic's documented error envelopes (a non-200 envelope status; a non-zero code or
success false) and Rivya's bare error object raise their APIError, as the documents say;
nothing else may escape.

Example counts come from the Hypothesis profile: ``ci`` (the default, a few hundred per
provider and path, derandomized) or ``slow`` (10,000 per provider and path):
``pytest tests/test_fuzz.py --hypothesis-profile=slow``.
"""

import collections
import functools
import json
import sys

import pytest
from hypothesis import given

import genstatus_sync as gs
from genstatus_sync._convert import make_converter, structure
from genstatus_sync.models import clipia, rivya, sellerpic, sivi
from genstatus_sync.testing import MockTransport, Reply

from .strategies import mutated_bodies, reply_schemas, valid_bodies

CASES = [(provider, path) for provider in ("sivi", "rivya", "sellerpic", "clipia")
         for path in reply_schemas(provider)]
JOB_IDS = {"sivi": "sbhMkIZKCPp", "rivya": "job-1", "sellerpic": "1925433452656742400",
           "clipia": "764cabcf-b745-4b3e-ae38-1200304cf45b"}


MODELS = {"sivi": sivi, "rivya": rivya, "sellerpic": sellerpic, "clipia": clipia}
CLIENTS = {"sivi": gs.SiviClient, "rivya": gs.RivyaClient, "sellerpic": gs.SellerPicClient,
           "clipia": gs.ClipiaClient}


REPLY = {}  # the body the mock transport answers with


@functools.lru_cache(maxsize=None)
def _client(provider):
    return CLIENTS[provider](api_key="k-fuzz",
                             transport=MockTransport(lambda request: Reply(200, {}, REPLY["body"])))


def _parse(provider, path, body):
    """What the client returns for ``body`` as the reply to ``path``."""
    client = _client(provider)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + 2000)  # the deepest drawn bodies, written as JSON
    try:
        REPLY["body"] = json.dumps(body).encode()
    finally:
        sys.setrecursionlimit(limit)
    if provider == "clipia" and not path.endswith("/status"):
        return client.get_result(JOB_IDS[provider])
    status = client.poll(JOB_IDS[provider])
    assert isinstance(status, gs.JobStatus)
    repr(status)
    json.dumps(status.to_dict())
    return status


def _is_error_envelope(provider, body):
    if not isinstance(body, dict):
        return False
    if provider == "sivi":
        return isinstance(body.get("status"), int) and body["status"] != 200
    if provider == "sellerpic":
        return body.get("code") != 0 or body.get("success") is False
    if provider == "rivya":  # the public error object alone, as not_found comes
        error = body.get("error")
        return "status" not in body and isinstance(error, dict) and isinstance(error.get("code"),
                                                                               str)
    return False


RUN = collections.Counter()  # examples run per test, reported with -s


def _report(name, provider, path):
    print(f"\n{name}[{provider} {path}]: {RUN[name, provider, path]} examples, all passed")


@pytest.mark.parametrize(("provider", "path"), CASES)
def test_spec_valid_bodies_parse(provider, path):
    @given(valid_bodies(provider, path))
    def check(body):
        RUN["valid", provider, path] += 1
        _parse(provider, path, body)

    check()
    _report("valid", provider, path)


@pytest.mark.parametrize(("provider", "path"), CASES)
def test_damaged_bodies_parse_or_raise_response_format_error(provider, path):
    @given(mutated_bodies(provider, path))
    def check(body):
        RUN["damaged", provider, path] += 1
        try:
            _parse(provider, path, body)
        except gs.ResponseFormatError as exc:
            assert exc.provider == provider
            assert exc.__cause__ is None  # no cattrs chain
        except gs.APIError:
            assert _is_error_envelope(provider, body)

    check()
    _report("damaged", provider, path)


_REFERENCE = make_converter(detailed_validation=True)  # cattrs' own structure functions


@pytest.mark.parametrize(("provider", "path"), CASES)
def test_fast_path_builds_what_cattrs_own_functions_build(provider, path):
    cls = getattr(MODELS[provider], reply_schemas(provider)[path]["$ref"].rsplit("/", 1)[1])

    @given(valid_bodies(provider, path))
    def check(body):
        assert structure(body, cls, provider=provider) == _REFERENCE.structure(body, cls)

    check()
