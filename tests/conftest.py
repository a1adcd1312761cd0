import pytest
from hypothesis import HealthCheck, settings

from genstatus_sync.testing import FakeProviders

# The fuzz suite's example counts: `ci` by default; `smoke` for CI's extra interpreters and
# lowest dependency versions; `--hypothesis-profile=slow` for the long run.
_FUZZ_CHECKS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True,
                          suppress_health_check=_FUZZ_CHECKS, print_blob=True)
settings.register_profile("smoke", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=_FUZZ_CHECKS, print_blob=True)
settings.register_profile("slow", max_examples=10_000, deadline=None,
                          suppress_health_check=_FUZZ_CHECKS, print_blob=True)
settings.load_profile("ci")

KEY = "sk-LEAKCHECK-7f3a9c-secret"
ENV_VARS = [f"{p}_{s}" for p in ("SIVI", "RIVYA", "SELLERPIC", "CLIPIA")
            for s in ("API_KEY", "BASE_URL")]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """No test sees a key or base URL from the developer's environment."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


fake = pytest.fixture(FakeProviders.fixture(api_key=KEY))


@pytest.fixture()
def no_sleep():
    """A recording stand-in for time.sleep: tests never sleep for real."""
    return []


def fast_client(fake, provider, sleeps=None, **kwargs):
    """A client of the fake with a sub-second timeout whose sleeps are recorded, not slept."""
    kwargs.setdefault("timeout", (0.5, 0.5))
    client = fake.client(provider, **kwargs)
    client._sleep = (sleeps if sleeps is not None else []).append
    return client


# Tests whose subject is real time (deadlines, trickles, rates counted over real seconds) or a
# fleet of real processes. The README's test command runs them, alone on the machine; CI's
# extra interpreters, which run two suites side by side on 2 cores, leave them out with
# -m "not realtime" (their load would make the measured seconds the machine's, not ours).
REALTIME = {
    "e2e/test_reliability.py": {
        "test_a_huge_timeout_elsewhere_does_not_loosen_another_requests_bound",
        "test_a_body_trickled_after_its_head_is_cut_at_the_bound_however_the_reply_ends",
        "test_over_tls_a_body_trickled_after_a_reply_that_closes_the_connection_is_cut",
        "test_through_an_https_proxy_a_trickle_is_cut_and_the_bound_survives",
        "test_after_fork_the_childs_first_request_is_bounded",
        "test_wait_returns_within_its_timeout_plus_half_a_second_under_every_fault",
        "test_wait_all_returns_within_its_timeout_plus_half_a_second_however_many_jobs_hang",
        "test_wait_all_with_clipia_completing_at_the_deadline_keeps_the_bound",
    },
    "e2e/test_hostile.py": {
        "test_server_that_never_answers_trips_the_read_timeout",
        "test_trickling_server_is_cut_off_at_connect_plus_read_timeout",
        "test_trickle_is_cut_over_tls_too",
        "test_wait_ends_within_its_timeout_plus_one_request_timeout",
    },
    "e2e/test_many_jobs.py": {
        "test_wait_all_overlaps_requests_and_keeps_input_order",
        "test_wait_all_over_1000_never_answering_jobs_ends_within_its_timeout_plus_half_a_second",
        "test_a_provider_that_hangs_does_not_starve_the_others_in_one_wait_all",
        "test_a_job_whose_poll_hung_at_the_deadline_says_so_in_its_wait_timeout",
        "test_a_client_held_by_its_budget_takes_no_share_of_the_places_from_the_others",
        "test_wait_all_over_50000_jobs_given_as_pairs_keeps_its_deadline_too",
        "test_a_providers_rate_limit_is_learned_without_a_storm_of_429s",
        "test_one_budget_for_all_threads_of_a_client_counted_at_the_server",
    },
    "e2e/test_clients.py": {"test_wait_deadline_holds_when_the_server_hangs"},
    "e2e/test_tokens.py": {"test_a_late_step_gets_the_clients_own_timeout_for_its_last_poll"},
    "e2e/test_odd_servers.py": {
        "test_a_resolver_that_gets_no_answer_cannot_carry_a_request_past_its_bound",
        "test_a_host_whose_first_addresses_never_answer_cannot_carry_a_request_past_its_bound",
        "test_a_reply_full_of_backslashes_cannot_carry_a_wait_past_its_deadline",
        "test_a_download_with_a_total_is_cut_at_it_and_leaves_no_file",
        "test_the_commands_download_timeout_bounds_each_file"},
    "e2e/test_cli_streams.py": {
        "test_sigterm_while_the_output_is_held_up_by_a_stuck_reader_ends_the_command",
        "test_a_later_sigterm_ends_a_stopped_command_whose_output_is_held_up"},
    "e2e/test_celery.py": "*",
    "e2e/test_docs_recipes.py": {"test_the_celery_recipe_runs_with_a_real_worker"},
    "test_benchmarks.py": "*",
}


def pytest_collection_modifyitems(config, items):
    here = __file__.rsplit("/", 1)[0] + "/"
    for item in items:
        names = REALTIME.get(str(item.fspath).replace(here, "", 1), ())
        if names == "*" or getattr(item, "originalname", item.name) in names:
            item.add_marker(pytest.mark.realtime)
