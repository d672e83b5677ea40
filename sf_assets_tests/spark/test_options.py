"""WriteOptions.parse and FailureThreshold: defaults, spellings, and every error path (pure, no Spark, no org)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from sf_assets.bulk.auth import DEFAULT_API_VERSION
from sf_assets.spark.options import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_JOB_BYTES,
    MAX_BATCH_SIZE,
    MAX_JOB_BYTES,
    FailureThreshold,
    OptionError,
    WriteOptions,
    default_results_path,
)

PASSWORD = "pw-Sekr1t-PASSWORD"
SECURITY_TOKEN = "tok-Sekr1t-TOKEN"
CLIENT_SECRET = "cs-Sekr1t-CLIENT"
SESSION_ID = "00Dxx0000001gPL!sess-Sekr1t-SESSION"
JWT_KEY = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7jwtSekr1tKEYz/9+q\n"
    "-----END PRIVATE KEY-----\n"
)
SECRETS = (PASSWORD, SECURITY_TOKEN, CLIENT_SECRET, SESSION_ID, JWT_KEY, "jwtSekr1tKEY")

SOAP = {"username": "api@example.com", "password": PASSWORD, "security_token": SECURITY_TOKEN}


def parse(**options: str) -> WriteOptions:
    """Parse the SOAP credentials plus ``options`` (sobject Contact unless given)."""
    return WriteOptions.parse({**SOAP, "sobject": "Contact", **options})


def parse_error(options: dict[str, str]) -> str:
    with pytest.raises(OptionError) as caught:
        WriteOptions.parse(options)
    return str(caught.value)


def error_of(**options: str) -> str:
    return parse_error({**SOAP, "sobject": "Contact", **options})


# --- defaults: the blog's option table -------------------------------------------------------------------


def test_default_operation_is_insert() -> None:
    assert parse().operation == "insert"


def test_default_api_version_is_bulk_2() -> None:
    assert parse().bulk_api == "2"


def test_bulk2_jobs_hold_100000_records_without_batch_size() -> None:
    assert (parse().batch_size, parse().job_rows) == (None, 100_000)


def test_bulk1_batches_hold_10000_records_without_batch_size() -> None:
    assert parse(api_version="1").job_rows == 10_000 == DEFAULT_BATCH_SIZE


def test_a_given_batch_size_is_the_records_per_job() -> None:
    assert parse(batchSize="10000").job_rows == 10_000


def test_a_bulk2_partitions_last_job_may_take_half_a_default_job_more() -> None:
    assert parse().job_tail_rows == 50_000


def test_a_given_batch_size_is_a_limit_even_for_the_last_job() -> None:
    assert parse(batchSize="100000").job_tail_rows == 0


def test_bulk1_batches_take_no_tail() -> None:
    assert parse(api_version="1").job_tail_rows == 0


def test_default_ignore_null_values_is_false() -> None:
    assert parse().ignore_null_values is False


def test_default_domain_is_login() -> None:
    options = parse()
    assert options.credentials.domain == "login"
    assert options.credentials.login_url == "https://login.salesforce.com"


def test_default_upsert_field_is_none() -> None:
    assert parse().upsert_field is None


def test_defaults_of_our_own_options() -> None:
    options = parse()
    assert options.max_job_bytes == DEFAULT_MAX_JOB_BYTES
    assert options.max_jobs_in_flight == 4
    assert options.ca_file is None
    assert options.failure_threshold is None
    assert options.success_results is False
    assert options.poll_interval == 0.1
    assert options.max_poll_interval == 5.0
    assert options.job_timeout is None
    assert options.max_retries == 5
    assert options.credentials.api_version == DEFAULT_API_VERSION


def test_default_results_path_is_under_the_temp_dir() -> None:
    assert parse().results_path == default_results_path()
    assert os.path.isabs(default_results_path())


def test_sobject_is_kept_as_given() -> None:
    assert parse(sobject="contact").sobject == "contact"


def test_soap_credentials_select_soap_login() -> None:
    credentials = parse().credentials
    assert credentials.method == "soap"
    assert (credentials.username, credentials.password, credentials.security_token) == (
        "api@example.com",
        PASSWORD,
        SECURITY_TOKEN,
    )


def test_path_option_added_by_spark_is_accepted() -> None:
    assert parse(path="/ignored").sobject == "Contact"


# --- keys in any case ----------------------------------------------------------------------------------------


def test_lower_cased_keys_as_spark_passes_them() -> None:
    options = parse(
        operation="upsert", upsertfield="External_Id__c", ignorenullvalues="true", batchsize="500", api_version="2"
    )
    assert (options.operation, options.upsert_field, options.ignore_null_values, options.batch_size) == (
        "upsert",
        "External_Id__c",
        True,
        500,
    )


def test_camel_cased_keys_as_the_blog_spells_them() -> None:
    options = parse(operation="upsert", upsertField="External_Id__c", ignoreNullValues="true", batchSize="500")
    assert (options.upsert_field, options.ignore_null_values, options.batch_size) == ("External_Id__c", True, 500)


def test_upper_cased_keys() -> None:
    options = WriteOptions.parse({"USERNAME": "u", "PASSWORD": PASSWORD, "SOBJECT": "Account", "MAXJOBSINFLIGHT": "7"})
    assert (options.sobject, options.credentials.username, options.max_jobs_in_flight) == ("Account", "u", 7)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("INSERT", "insert"),
        ("Update", "update"),
        ("upsert", "upsert"),
        ("DELETE", "delete"),
        ("harddelete", "hardDelete"),
    ],
)
def test_operation_value_in_any_case_gets_canonical_spelling(given: str, expected: str) -> None:
    extra = {"upsertField": "External_Id__c"} if expected == "upsert" else {}
    assert parse(operation=given, **extra).operation == expected


# --- sobject and unknown options ----------------------------------------------------------------------------


def test_missing_sobject() -> None:
    assert "option sobject is required" in parse_error(dict(SOAP))


def test_blank_sobject_counts_as_missing() -> None:
    assert "option sobject is required" in error_of(sobject="   ")


def test_unknown_option_suggests_the_close_one() -> None:
    assert error_of(upsertFeild="External_Id__c") == "unknown option: upsertfeild (did you mean upsertField?)"


def test_unknown_option_without_close_match_has_no_suggestion() -> None:
    message = error_of(colour="blue")
    assert message == "unknown option: colour"


def test_several_unknown_options_are_all_listed() -> None:
    message = error_of(sobjct="Contact", batchsiz="5")
    assert message == "unknown options: batchsiz (did you mean batchSize?), sobjct (did you mean sobject?)"


def test_unknown_option_is_reported_before_missing_sobject() -> None:
    assert parse_error({**SOAP, "sobjet": "Contact"}).startswith("unknown option: sobjet")


# --- operation and upsertField ------------------------------------------------------------------------------


def test_bad_operation_lists_the_operations() -> None:
    message = error_of(operation="merge")
    assert message == (
        "option operation='merge' is not a Bulk API operation; use one of insert, update, upsert, delete, hardDelete"
    )


def test_upsert_without_upsert_field() -> None:
    assert "operation upsert needs option upsertField" in error_of(operation="upsert")


def test_upsert_with_blank_upsert_field() -> None:
    assert "operation upsert needs option upsertField" in error_of(operation="upsert", upsertField=" ")


@pytest.mark.parametrize("operation", ["insert", "update", "delete", "hardDelete"])
def test_upsert_field_with_another_operation(operation: str) -> None:
    message = error_of(operation=operation, upsertField="External_Id__c")
    assert message == f"option upsertField is only for operation upsert, not {operation}"


def test_upsert_field_with_default_operation() -> None:
    assert error_of(upsertField="External_Id__c") == "option upsertField is only for operation upsert, not insert"


def test_upsert_field_value_is_stripped() -> None:
    assert parse(operation="upsert", upsertField=" External_Id__c ").upsert_field == "External_Id__c"


# --- api_version ---------------------------------------------------------------------------------------------


def test_api_version_2_is_accepted() -> None:
    assert parse(api_version="2").bulk_api == "2"


def test_api_version_1_caps_batches_at_the_bulk1_limits() -> None:
    options = parse(api_version="1")
    assert (options.bulk_api, options.job_rows, options.max_job_bytes, options.serial) == (
        "1",
        10_000,
        10_000_000,
        False,
    )


def test_api_version_1_refuses_batches_over_10000_records() -> None:
    assert error_of(api_version="1", batchSize="20000") == "option batchSize=20000 must be between 1 and 10000"


def test_serial_mode_is_for_bulk_api_1() -> None:
    assert parse(api_version="1", concurrencyMode="serial").serial
    assert "needs api_version=1" in error_of(concurrencyMode="Serial")


def test_an_unknown_concurrency_mode_is_named() -> None:
    assert (
        error_of(api_version="1", concurrencyMode="fast") == "option concurrencyMode='Fast' must be Parallel or Serial"
    )


def test_api_version_rest_version_points_to_sf_version() -> None:
    message = error_of(api_version="59.0")
    assert message == (
        "option api_version='59.0' must be 1 or 2 (the Bulk API version) (the REST API version is option sf_version)"
    )


def test_api_version_other_value_has_no_sf_version_hint() -> None:
    message = error_of(api_version="3")
    assert message == "option api_version='3' must be 1 or 2 (the Bulk API version)"


# --- whole numbers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "attribute", "value"),
    [
        ("batchSize", "batch_size", 1),
        ("batchSize", "batch_size", MAX_BATCH_SIZE),
        ("maxJobBytes", "max_job_bytes", 1024),
        ("maxJobBytes", "max_job_bytes", MAX_JOB_BYTES),
        ("maxJobsInFlight", "max_jobs_in_flight", 1),
        ("maxJobsInFlight", "max_jobs_in_flight", 64),
        ("maxRetries", "max_retries", 0),
        ("maxRetries", "max_retries", 100),
    ],
)
def test_whole_number_bounds_are_inclusive(key: str, attribute: str, value: int) -> None:
    assert getattr(parse(**{key: str(value)}), attribute) == value


def test_whole_number_accepts_underscores() -> None:
    assert parse(batchSize="2_000").batch_size == 2000


@pytest.mark.parametrize(
    ("key", "value", "minimum", "maximum"),
    [
        ("batchSize", 0, 1, MAX_BATCH_SIZE),
        ("batchSize", MAX_BATCH_SIZE + 1, 1, MAX_BATCH_SIZE),
        ("batchSize", -5, 1, MAX_BATCH_SIZE),
        ("maxJobBytes", 1023, 1024, MAX_JOB_BYTES),
        ("maxJobBytes", MAX_JOB_BYTES + 1, 1024, MAX_JOB_BYTES),
        ("maxJobsInFlight", 0, 1, 64),
        ("maxJobsInFlight", 65, 1, 64),
        ("maxRetries", -1, 0, 100),
        ("maxRetries", 101, 0, 100),
    ],
)
def test_whole_number_out_of_range(key: str, value: int, minimum: int, maximum: int) -> None:
    assert error_of(**{key.lower(): str(value)}) == f"option {key}={value} must be between {minimum} and {maximum}"


@pytest.mark.parametrize("key", ["batchSize", "maxJobBytes", "maxJobsInFlight", "maxRetries"])
@pytest.mark.parametrize("value", ["ten", "1.5", "1e4", "0x10"])
def test_whole_number_not_a_number(key: str, value: str) -> None:
    assert error_of(**{key.lower(): value}) == f"option {key}={value!r} must be a whole number"


# --- seconds ---------------------------------------------------------------------------------------------------


def test_seconds_options_are_parsed() -> None:
    options = parse(pollInterval="0.02", maxPollInterval="2", jobTimeout="600")
    assert (options.poll_interval, options.max_poll_interval, options.job_timeout) == (0.02, 2.0, 600.0)


@pytest.mark.parametrize(
    ("key", "value", "minimum"),
    [
        ("pollInterval", "0", 0.01),
        ("maxPollInterval", "0.001", 0.01),
        ("jobTimeout", "0.5", 1.0),
        ("jobTimeout", "nan", 1.0),
        ("jobTimeout", "inf", 1.0),
    ],
)
def test_seconds_below_minimum_or_not_finite(key: str, value: str, minimum: float) -> None:
    assert error_of(**{key: value}) == f"option {key}={value} must be at least {minimum} seconds"


@pytest.mark.parametrize("key", ["pollInterval", "maxPollInterval", "jobTimeout"])
def test_seconds_not_a_number(key: str) -> None:
    assert error_of(**{key: "soon"}) == f"option {key}='soon' must be a number of seconds"


# --- booleans ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("TRUE", True), (" True ", True), ("1", True),
                                                 ("yes", True), ("false", False), ("False", False), ("0", False),
                                                 ("no", False)])  # fmt: skip
def test_boolean_spellings(value: str, expected: bool) -> None:
    options = parse(ignoreNullValues=value, successResults=value)
    assert (options.ignore_null_values, options.success_results) == (expected, expected)


@pytest.mark.parametrize("key", ["ignoreNullValues", "successResults"])
@pytest.mark.parametrize("value", ["y", "on", "2", "truthy"])
def test_bad_boolean(key: str, value: str) -> None:
    assert error_of(**{key.lower(): value}) == f"option {key}={value!r} must be true or false"


# --- failureThreshold --------------------------------------------------------------------------------------


def test_failure_threshold_option_count() -> None:
    assert parse(failureThreshold="100").failure_threshold == FailureThreshold(count=100)


def test_failure_threshold_option_percentage() -> None:
    assert parse(failureThreshold="2.5%").failure_threshold == FailureThreshold(fraction=0.025)


def test_failure_threshold_option_fraction() -> None:
    assert parse(failureThreshold="0.025").failure_threshold == FailureThreshold(fraction=0.025)


@pytest.mark.parametrize("value", ["-1", "1.5", "101%", "-0.5%", "abc", "%", "nan", "nan%", "inf", "2.5 %%"])
def test_bad_failure_threshold_forms(value: str) -> None:
    message = error_of(failureThreshold=value)
    assert message.startswith(f"option failureThreshold={value!r} is not a row count")


def test_failure_threshold_parse_count() -> None:
    assert FailureThreshold.parse("5") == FailureThreshold(count=5, fraction=None)


def test_failure_threshold_parse_whole_number_is_a_count_not_a_fraction() -> None:
    assert FailureThreshold.parse("1") == FailureThreshold(count=1)
    assert FailureThreshold.parse("1.0") == FailureThreshold(fraction=1.0)


def test_failure_threshold_parse_percentage() -> None:
    assert FailureThreshold.parse("2.5%") == FailureThreshold(fraction=0.025)


def test_failure_threshold_parse_percentage_bounds() -> None:
    assert FailureThreshold.parse("0%") == FailureThreshold(fraction=0.0)
    assert FailureThreshold.parse("100%") == FailureThreshold(fraction=1.0)


def test_failure_threshold_parse_fraction() -> None:
    assert FailureThreshold.parse("0.025") == FailureThreshold(fraction=0.025)


def test_failure_threshold_parse_strips_whitespace() -> None:
    assert FailureThreshold.parse(" 7 ") == FailureThreshold(count=7)


def test_count_threshold_is_exceeded_only_above_the_count() -> None:
    threshold = FailureThreshold.parse("5")
    assert [threshold.exceeded(failed, 1000) for failed in (0, 5, 6)] == [False, False, True]


def test_count_threshold_ignores_total() -> None:
    assert FailureThreshold.parse("5").exceeded(6, 6) is True


def test_percentage_threshold_is_exceeded_only_above_the_fraction() -> None:
    threshold = FailureThreshold.parse("2.5%")
    assert [threshold.exceeded(failed, 1000) for failed in (0, 25, 26)] == [False, False, True]


def test_fraction_threshold_is_exceeded_only_above_the_fraction() -> None:
    threshold = FailureThreshold.parse("0.025")
    assert [threshold.exceeded(failed, 200) for failed in (5, 6)] == [False, True]


def test_fraction_threshold_with_no_rows_is_not_exceeded() -> None:
    assert FailureThreshold.parse("0%").exceeded(0, 0) is False


def test_zero_count_threshold_is_exceeded_by_one_failure() -> None:
    assert FailureThreshold.parse("0").exceeded(1, 1_000_000) is True


def test_failure_threshold_describe() -> None:
    assert FailureThreshold.parse("12").describe() == "12 rows"
    assert FailureThreshold.parse("2.5%").describe() == "2.5000%"


# --- ca_file ---------------------------------------------------------------------------------------------------


def test_ca_file_that_exists_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ca.pem").write_text("PEM")
    monkeypatch.chdir(tmp_path)
    assert parse(ca_file="ca.pem").ca_file == str((tmp_path / "ca.pem").resolve())


def test_ca_file_that_does_not_exist(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    assert error_of(ca_file=missing) == (
        f"option ca_file={missing!r} is not a readable file (a PEM bundle of CA certificates)"
    )


def test_ca_file_that_is_a_directory(tmp_path: Path) -> None:
    assert error_of(ca_file=str(tmp_path)).startswith(f"option ca_file={str(tmp_path)!r} is not a readable file")


# --- JWT keys --------------------------------------------------------------------------------------------------


def jwt_options(**options: str) -> dict[str, str]:
    return {"username": "api@example.com", "client_id": "3MVG9-app", "sobject": "Contact", **options}


def test_jwt_private_key_file_is_read_on_parse(tmp_path: Path) -> None:
    key_file = tmp_path / "server.key"
    key_file.write_text(JWT_KEY)
    options = WriteOptions.parse(jwt_options(jwt_private_key_file=str(key_file)))
    key_file.unlink()  # executors never need the file
    assert options.credentials.jwt_private_key == JWT_KEY
    assert options.credentials.method == "jwt"


def test_jwt_private_key_text_is_used_as_given() -> None:
    assert WriteOptions.parse(jwt_options(jwt_private_key=JWT_KEY)).credentials.jwt_private_key == JWT_KEY


def test_jwt_private_key_file_that_cannot_be_read(tmp_path: Path) -> None:
    missing = tmp_path / "missing.key"
    message = parse_error(jwt_options(jwt_private_key_file=str(missing)))
    assert message == f"option jwt_private_key_file: cannot read {missing}: No such file or directory"


def test_jwt_private_key_and_file_conflict(tmp_path: Path) -> None:
    key_file = tmp_path / "server.key"
    key_file.write_text(JWT_KEY)
    message = parse_error(jwt_options(jwt_private_key=JWT_KEY, jwt_private_key_file=str(key_file)))
    assert message == "give option jwt_private_key or jwt_private_key_file, not both"


# --- login methods ------------------------------------------------------------------------------------------


def test_session_id_with_instance_url_selects_session_login() -> None:
    options = WriteOptions.parse(
        {"session_id": SESSION_ID, "instance_url": "https://acme.my.salesforce.com/", "sobject": "Contact"}
    )
    assert options.credentials.method == "session"
    assert options.credentials.instance_url == "https://acme.my.salesforce.com"


def test_client_credentials_login() -> None:
    options = WriteOptions.parse({"client_id": "3MVG9-app", "client_secret": CLIENT_SECRET, "sobject": "Contact"})
    assert options.credentials.method == "client_credentials"


def test_oauth_password_login() -> None:
    options = parse(client_id="3MVG9-app", client_secret=CLIENT_SECRET)
    assert options.credentials.method == "oauth_password"


def test_secrets_are_not_stripped() -> None:
    assert parse(password=" pw with spaces ").credentials.password == " pw with spaces "


def test_no_login_options() -> None:
    assert parse_error({"sobject": "Contact"}).startswith("no login options: give username + password")


@pytest.mark.parametrize(
    ("extra", "chosen"),
    [
        ({"session_id": SESSION_ID, "instance_url": "https://acme.my.salesforce.com"}, "session and soap"),
        ({"jwt_private_key": JWT_KEY, "client_id": "3MVG9-app"}, "jwt and soap"),
    ],
)
def test_conflicting_login_methods(extra: dict[str, str], chosen: str) -> None:
    message = error_of(**extra)
    assert message == (f"conflicting login options: they select {chosen}; give the options of one method only")


def test_session_id_without_instance_url() -> None:
    message = parse_error({"session_id": SESSION_ID, "sobject": "Contact"})
    assert message == "login by session id needs instance_url"


def test_jwt_without_client_id() -> None:
    assert parse_error({"username": "u", "jwt_private_key": JWT_KEY, "sobject": "Contact"}) == (
        "login by JWT bearer needs client_id"
    )


def test_password_without_username() -> None:
    assert parse_error({"password": PASSWORD, "sobject": "Contact"}) == "login by username and password needs username"


# --- instance_url, domain, sf_version -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["http://acme.my.salesforce.com", "acme.my.salesforce.com", "https://acme.com/services", "https://"]
)
def test_bad_instance_url(value: str) -> None:
    assert (
        error_of(instance_url=value) == f"option instance_url={value!r} must look like https://acme.my.salesforce.com"
    )


def test_instance_url_trailing_slash_is_removed() -> None:
    assert parse(instance_url="https://127.0.0.1:8443/").credentials.instance_url == "https://127.0.0.1:8443"


def test_domain_test_selects_the_sandbox_login() -> None:
    assert parse(domain="test").credentials.login_url == "https://test.salesforce.com"


def test_my_domain_prefix() -> None:
    assert parse(domain="acme.my").credentials.login_url == "https://acme.my.salesforce.com"


@pytest.mark.parametrize("value", ["acme/evil", "login.salesforce.com:443", "a b", "acme_my"])
def test_bad_domain(value: str) -> None:
    assert error_of(domain=value) == (
        f"option domain={value!r} must be login, test or a My Domain prefix such as acme.my"
    )


@pytest.mark.parametrize(("value", "expected"), [("58.0", "58.0"), ("v60.0", "60.0"), ("100.0", "100.0")])
def test_sf_version(value: str, expected: str) -> None:
    assert parse(sf_version=value).credentials.api_version == expected


@pytest.mark.parametrize("value", ["59", "59.1", "2", "latest", "5.0"])
def test_bad_sf_version(value: str) -> None:
    assert error_of(sf_version=value) == f"option sf_version={value!r} must be a REST API version such as 59.0"


# --- resultsPath and writeId -------------------------------------------------------------------------------


def test_relative_results_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse(resultsPath="out/results").results_path == str(tmp_path / "out" / "results")


def test_home_results_path_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert parse(resultsPath="~/results").results_path == str(tmp_path / "results")


def test_uri_results_path_is_kept_without_trailing_slash() -> None:
    assert parse(resultsPath="s3://bucket/results/").results_path == "s3://bucket/results"


def test_results_dir_joins_results_path_and_write_id(tmp_path: Path) -> None:
    options = parse(resultsPath=str(tmp_path), writeId="nightly-1")
    assert options.results_dir == f"{tmp_path}/nightly-1"


def test_write_id_option_is_used() -> None:
    assert parse(writeId="nightly-1").write_id == "nightly-1"


def test_default_write_id_shape() -> None:
    write_id = parse(operation="hardDelete").write_id
    assert re.fullmatch(r"\d{8}T\d{6}Z-Contact-hardDelete-[0-9a-f]{8}", write_id), write_id


def test_default_write_id_drops_unsafe_characters_of_the_sobject() -> None:
    write_id = parse(sobject="My Obj/../__c").write_id
    assert re.fullmatch(r"\d{8}T\d{6}Z-MyObj__c-insert-[0-9a-f]{8}", write_id), write_id


def test_default_write_ids_are_unique() -> None:
    assert parse().write_id != parse().write_id


# --- secrets never shown -----------------------------------------------------------------------------------


_METHOD_NAMES = ("soap", "session", "client_credentials", "jwt")


def _with_all_methods() -> list[dict[str, str]]:
    return [
        {**SOAP, "sobject": "Contact"},
        {"session_id": SESSION_ID, "instance_url": "https://acme.my.salesforce.com", "sobject": "Contact"},
        {"client_id": "3MVG9-app", "client_secret": CLIENT_SECRET, "sobject": "Contact"},
        {"username": "u", "client_id": "3MVG9-app", "jwt_private_key": JWT_KEY, "sobject": "Contact"},
    ]


@pytest.mark.parametrize("options", _with_all_methods(), ids=list(_METHOD_NAMES))
def test_repr_shows_no_secret(options: dict[str, str]) -> None:
    text = repr(WriteOptions.parse(options)) + str(WriteOptions.parse(options))
    assert not [secret for secret in SECRETS if secret in text]


def test_repr_shows_no_secret_of_a_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "server.key"
    key_file.write_text(JWT_KEY)
    options = WriteOptions.parse(jwt_options(jwt_private_key_file=str(key_file)))
    assert "jwtSekr1tKEY" not in repr(options)


_BAD_OPTIONS: list[dict[str, str]] = [
    {"sobject": ""},
    {"operation": "merge"},
    {"operation": "upsert"},
    {"upsertField": "X"},
    {"api_version": "59.0"},
    {"api_version": "1", "batchSize": "20000"},
    {"batchSize": "0"},
    {"batchSize": "x"},
    {"maxJobBytes": "1"},
    {"maxJobsInFlight": "many"},
    {"ignoreNullValues": "maybe"},
    {"failureThreshold": "lots"},
    {"ca_file": "/no/such/ca.pem"},
    {"domain": "a/b"},
    {"instance_url": "ftp://x"},
    {"sf_version": "latest"},
    {"pollInterval": "0"},
    {"jobTimeout": "x"},
    {"passwd": "x", "securitytoken": "y"},
    {"jwt_private_key_file": "/no/such/key"},
    {"jwt_private_key": JWT_KEY},
    {"client_secret": CLIENT_SECRET},
    {"session_id": SESSION_ID},
]


_ERROR_CASES = [
    pytest.param({**method, **bad}, id=f"{name}-{'+'.join(bad)}")
    for name, method in zip(_METHOD_NAMES, _with_all_methods(), strict=True)
    for bad in _BAD_OPTIONS
    if {**method, **bad} != method
]


@pytest.mark.parametrize("options", _ERROR_CASES)
def test_option_errors_show_no_secret(options: dict[str, str]) -> None:
    message = parse_error(options)
    assert not [secret for secret in SECRETS if secret in message], message


def test_secret_given_under_a_misspelt_key_is_not_quoted() -> None:
    message = parse_error({"username": "u", "passwrd": PASSWORD, "sobject": "Contact"})
    assert message == "unknown option: passwrd (did you mean password?)"


def test_key_text_given_as_key_file_is_not_quoted() -> None:
    message = parse_error(jwt_options(jwt_private_key_file=JWT_KEY))
    assert message == "option jwt_private_key_file holds key text, not a path; give it as jwt_private_key"
