"""FakeProviders serves its jobs' result files (``/media/...``), so that a wait and a download
of the results run offline, end to end."""

import http.client
from urllib.parse import urlsplit

import pytest

import genstatus_sync as gs
from genstatus_sync.testing import FakeProviders
from genstatus_sync.testing._fake import MEDIA_BYTES

from ..conftest import fast_client

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("provider", ["sivi", "rivya", "sellerpic", "clipia"])
def test_default_result_urls_point_at_the_fake_and_download(fake, provider, tmp_path):
    job = fake.add_job(provider, ["succeeded"])
    client = fast_client(fake, provider)
    status = client.wait(job, timeout=10)
    assert status.result_urls == tuple(fake.media_urls(provider, job))
    assert all(url.startswith(f"{fake.url}/media/{provider}/") for url in status.result_urls)
    paths = [gs.download(url, tmp_path) for url in status.result_urls]
    assert [p.name for p in paths] == [f"{provider}-{job}-1.png", f"{provider}-{job}-2.png"]
    assert all(p.read_bytes() == MEDIA_BYTES for p in paths)
    assert MEDIA_BYTES.startswith(PNG_SIGNATURE)
    media = [r for r in fake.requests if r.path.startswith("/media/")]
    assert len(media) == 2 and {r.provider for r in media} == {""}
    assert all("Authorization" not in r.headers and "sivi-api-key" not in r.headers
               for r in media)


def test_explicit_urls_are_kept_as_given(fake):
    job = fake.add_job("rivya", ["succeeded"], urls=["https://example.test/a.png"])
    assert fast_client(fake, "rivya").poll(job).result_urls == ("https://example.test/a.png",)
    none = fake.add_job("rivya", ["succeeded"], urls=[])
    assert fast_client(fake, "rivya").poll(none).result_urls == ()


def test_odd_job_ids_give_one_percent_encoded_segment(fake, tmp_path):
    job = fake.add_job("rivya", ["succeeded"], job_id="ünï🦄/../x?y")
    (url, _) = fake.media_urls("rivya", job)
    assert urlsplit(url).path.count("/") == 4 and "?" not in url
    path = gs.download(url, tmp_path)
    assert path.parent == tmp_path and path.name == "rivya-ünï🦄_.._x_y-1.png"


def test_a_job_added_before_start_reports_the_port_it_is_served_on():
    fake = FakeProviders(api_key="test-key-long")
    job = fake.add_job("clipia", ["succeeded"])
    with fake:
        status = fast_client(fake, "clipia").wait(job, timeout=10)
        assert status.result_urls[0].startswith(fake.url + "/media/")


def test_unknown_media_is_404_and_other_methods_405(fake):
    job = fake.add_job("rivya", ["succeeded"])
    host, port = urlsplit(fake.url).hostname, urlsplit(fake.url).port
    conn = http.client.HTTPConnection(host, port, timeout=5)
    for method, path, status in [("GET", "/media/rivya/nope/1.png", 404),
                                 ("GET", f"/media/rivya/{job}", 404),
                                 ("GET", f"/media/sivi/{job}/1.png", 404),
                                 ("POST", f"/media/rivya/{job}/1.png", 405),
                                 ("HEAD", f"/media/rivya/{job}/1.png", 200),
                                 ("GET", f"/media/rivya/{job}/any-name.bin", 200)]:
        conn.request(method, path)
        reply = conn.getresponse()
        body = reply.read()
        assert reply.status == status, (method, path)
        if method == "HEAD":
            assert body == b"" and reply.getheader("Content-Length") == str(len(MEDIA_BYTES))
    conn.close()
    with pytest.raises(gs.NotFoundError):
        gs.download(f"{fake.url}/media/rivya/nope/1.png", ".")


def test_provider_faults_do_not_touch_the_media_route(fake, tmp_path):
    job = fake.add_job("rivya", ["succeeded"])
    fake.fail("rivya", 503, times=5)
    (url, _) = fake.media_urls("rivya", job)
    assert gs.download(url, tmp_path).read_bytes() == MEDIA_BYTES
