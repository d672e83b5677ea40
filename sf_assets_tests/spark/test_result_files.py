"""ResultFiles: Salesforce result CSVs to Parquet under _temporary, published per kind (local files only)."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sf_assets.spark.result_files import KIND_COLUMNS, ResultFiles, error_code

HEADERS = ["LastName", "Email", "Account.Oracle_Id__c"]


@pytest.fixture
def files(tmp_path: Path) -> ResultFiles:
    return ResultFiles(str(tmp_path / "write-1"), HEADERS, partition_id=3, attempt=1)


def staged(tmp_path: Path, kind: str) -> Path:
    return tmp_path / "write-1" / "_temporary" / "part-00003-attempt-1" / f"task-{kind}.parquet"


def published(tmp_path: Path, kind: str) -> pa.Table:
    return pq.read_table(tmp_path / "write-1" / kind / "part-00003.parquet")


def csv_file(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode("utf-8"))


FAILED_CSV = (
    '"sf__Id","sf__Error","LastName","Email","Account.Oracle_Id__c"\n'
    '"","REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --","","a@example.com","ORA-1"\n'
    '"","INVALID_EMAIL_ADDRESS:Email: invalid email address: bad:Email --","Doe","bad",""\n'
    '"","REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --","","c@example.com",""\n'
)


# --- error_code ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --", "REQUIRED_FIELD_MISSING"),
        ("NON_FINITE_NUMBER:not sent: Salesforce cannot store X=nan:X --", "NON_FINITE_NUMBER"),
        (" DUPLICATE_VALUE :dup", "DUPLICATE_VALUE"),
        ("NO_COLON", "NO_COLON"),
        (":no code", "UNKNOWN"),
        ("", "UNKNOWN"),
        (None, "UNKNOWN"),
    ],
)
def test_error_code(error: str | None, code: str) -> None:
    assert error_code(error) == code


# --- add_csv: parsing a Salesforce result CSV ------------------------------------------------------------


def test_add_csv_returns_the_row_count(files: ResultFiles) -> None:
    assert files.add_csv("failed", csv_file(FAILED_CSV), job_id="750A") == 3
    assert files.rows == {"failed": 3}


def test_add_csv_conforms_to_the_fixed_string_schema(files: ResultFiles, tmp_path: Path) -> None:
    files.add_csv("failed", csv_file(FAILED_CSV), job_id="750A")
    files.publish()
    table = published(tmp_path, "failed")
    assert table.schema == pa.schema(
        [pa.field(name, pa.string()) for name in ("sf__Id", "sf__Error", "sf__JobId", *HEADERS)]
    )


def test_add_csv_fills_the_job_id_and_keeps_values(files: ResultFiles, tmp_path: Path) -> None:
    files.add_csv("failed", csv_file(FAILED_CSV), job_id="750A")
    files.publish()
    assert published(tmp_path, "failed").to_pylist()[1] == {
        "sf__Id": None,
        "sf__Error": "INVALID_EMAIL_ADDRESS:Email: invalid email address: bad:Email --",
        "sf__JobId": "750A",
        "LastName": "Doe",
        "Email": "bad",
        "Account.Oracle_Id__c": None,
    }


def test_add_csv_empty_strings_become_null(files: ResultFiles, tmp_path: Path) -> None:
    files.add_csv("failed", csv_file(FAILED_CSV), job_id="750A")
    files.publish()
    assert published(tmp_path, "failed").column("LastName").to_pylist() == [None, "Doe", None]


def test_add_csv_null_like_values_stay_literal(tmp_path: Path) -> None:
    files = ResultFiles(str(tmp_path / "write-1"), ["Name", "Phone"], 3, 1)
    text = (
        '"sf__Id","sf__Created","Name","Phone"\n'
        '"001A","true","#N/A","NA"\n'
        '"001B","false","null","N/A"\n'
        '"001C","false","NULL","nan"\n'
    )
    files.add_csv("successful", csv_file(text), job_id="750A")
    files.publish()
    table = published(tmp_path, "successful")
    assert table.column("Name").to_pylist() == ["#N/A", "null", "NULL"]
    assert table.column("Phone").to_pylist() == ["NA", "N/A", "nan"]


def test_add_csv_keeps_text_that_looks_like_numbers_and_booleans(files: ResultFiles, tmp_path: Path) -> None:
    text = '"sf__Id","sf__Created","LastName","Email","Account.Oracle_Id__c"\n"003A","true","00123","1.50","1e3"\n'
    files.add_csv("successful", csv_file(text), job_id="750A")
    files.publish()
    row = published(tmp_path, "successful").to_pylist()[0]
    assert (row["sf__Created"], row["LastName"], row["Email"], row["Account.Oracle_Id__c"]) == (
        "true",
        "00123",
        "1.50",
        "1e3",
    )


def test_add_csv_values_with_embedded_newlines_quotes_and_commas(files: ResultFiles, tmp_path: Path) -> None:
    text = (
        '"sf__Id","sf__Error","LastName","Email","Account.Oracle_Id__c"\n'
        '"","STRING_TOO_LONG:too long:LastName --","line one\nline two\r\nline three","say ""hi"", ok","x"\n'
        '"","OTHER:y --","Doe","d@example.com","z"\n'
    )
    assert files.add_csv("failed", csv_file(text), job_id="750A") == 2
    files.publish()
    table = published(tmp_path, "failed")
    assert table.column("LastName").to_pylist() == ["line one\nline two\r\nline three", "Doe"]
    assert table.column("Email").to_pylist() == ['say "hi", ok', "d@example.com"]


def test_add_csv_matches_echoed_columns_in_another_case(files: ResultFiles, tmp_path: Path) -> None:
    text = '"sf__Id","sf__Error","LASTNAME","email","account.oracle_id__c"\n"","E:x --","Doe","d@example.com","ORA-1"\n'
    files.add_csv("failed", csv_file(text), job_id="750A")
    files.publish()
    row = published(tmp_path, "failed").to_pylist()[0]
    assert (row["LastName"], row["Email"], row["Account.Oracle_Id__c"]) == ("Doe", "d@example.com", "ORA-1")


def test_add_csv_keeps_text_of_echoed_columns_in_another_case(files: ResultFiles, tmp_path: Path) -> None:
    text = '"sf__Id","sf__Error","lastname","email","account.oracle_id__c"\n"","E:x --","00123","1.50","7"\n'
    files.add_csv("failed", csv_file(text), job_id="750A")
    files.publish()
    row = published(tmp_path, "failed").to_pylist()[0]
    assert (row["LastName"], row["Email"], row["Account.Oracle_Id__c"]) == ("00123", "1.50", "7")


def test_add_csv_leaves_unechoed_columns_null(files: ResultFiles, tmp_path: Path) -> None:
    text = '"sf__Id","sf__Error","LastName"\n"","E:x --","Doe"\n'
    files.add_csv("failed", csv_file(text), job_id="750A")
    files.publish()
    row = published(tmp_path, "failed").to_pylist()[0]
    assert (row["LastName"], row["Email"], row["Account.Oracle_Id__c"]) == ("Doe", None, None)


def test_add_csv_drops_columns_that_are_not_the_writes(files: ResultFiles, tmp_path: Path) -> None:
    text = '"sf__Id","sf__Error","LastName","Extra"\n"","E:x --","Doe","ignored"\n'
    files.add_csv("failed", csv_file(text), job_id="750A")
    files.publish()
    assert "Extra" not in published(tmp_path, "failed").column_names


def test_add_csv_unprocessed_rows(files: ResultFiles, tmp_path: Path) -> None:
    text = '"LastName","Email","Account.Oracle_Id__c"\n"Doe","d@example.com",""\n'
    assert files.add_csv("unprocessed", csv_file(text), job_id="750B") == 1
    files.publish()
    assert published(tmp_path, "unprocessed").to_pylist() == [
        {"sf__JobId": "750B", "LastName": "Doe", "Email": "d@example.com", "Account.Oracle_Id__c": None}
    ]


def test_add_csv_successful_rows(files: ResultFiles, tmp_path: Path) -> None:
    text = '"sf__Id","sf__Created","LastName","Email","Account.Oracle_Id__c"\n"003000000000001AAA","true","Doe","",""\n'
    files.add_csv("successful", csv_file(text), job_id="750C")
    files.publish()
    assert published(tmp_path, "successful").to_pylist() == [
        {
            "sf__Id": "003000000000001AAA",
            "sf__Created": "true",
            "sf__JobId": "750C",
            "LastName": "Doe",
            "Email": None,
            "Account.Oracle_Id__c": None,
        }
    ]


def test_add_csv_of_an_empty_file_adds_nothing(files: ResultFiles, tmp_path: Path) -> None:
    assert files.add_csv("failed", io.BytesIO(b""), job_id="750A") == 0
    assert files.rows == {}
    assert not (tmp_path / "write-1").exists()
    assert files.publish() == ()


def test_add_csv_of_a_header_only_file_adds_nothing(files: ResultFiles, tmp_path: Path) -> None:
    header = '"sf__Id","sf__Error","LastName","Email","Account.Oracle_Id__c"\n'
    assert files.add_csv("failed", csv_file(header), job_id="750A") == 0
    assert files.publish() == ()


def test_add_csv_reads_from_the_start_of_a_file_positioned_at_its_end(files: ResultFiles) -> None:
    source = csv_file(FAILED_CSV)
    source.seek(0, 2)
    assert files.add_csv("failed", source, job_id="750A") == 3


def test_add_csv_of_several_jobs_appends(files: ResultFiles, tmp_path: Path) -> None:
    files.add_csv("failed", csv_file(FAILED_CSV), job_id="750A")
    files.add_csv("failed", csv_file(FAILED_CSV), job_id="750B")
    files.publish()
    assert published(tmp_path, "failed").column("sf__JobId").to_pylist() == ["750A"] * 3 + ["750B"] * 3


def test_add_csv_larger_than_one_block(files: ResultFiles, tmp_path: Path) -> None:
    rows = 60_000
    body = "".join(
        f'"","E{i % 7}:message number {i} --","Name {i}","e{i}@example.com","ORA-{i}"\n' for i in range(rows)
    )
    text = '"sf__Id","sf__Error","LastName","Email","Account.Oracle_Id__c"\n' + body
    assert len(text) > 4 << 20
    assert files.add_csv("failed", csv_file(text), job_id="750A") == rows
    files.publish()
    table = published(tmp_path, "failed")
    assert table.num_rows == rows
    assert table.column("Account.Oracle_Id__c").to_pylist()[-1] == f"ORA-{rows - 1}"


# --- errors_by_code ----------------------------------------------------------------------------------------


def test_errors_by_code_counts_failed_rows(files: ResultFiles) -> None:
    files.add_csv("failed", csv_file(FAILED_CSV), job_id="750A")
    assert files.errors_by_code == {"REQUIRED_FIELD_MISSING": 2, "INVALID_EMAIL_ADDRESS": 1}


def test_errors_by_code_ignores_other_kinds(files: ResultFiles) -> None:
    files.add("unprocessed", pa.table({"LastName": ["Doe"]}), job_id="750A")
    assert files.errors_by_code == {}


def test_errors_by_code_counts_added_rejected_rows(files: ResultFiles) -> None:
    rejected = pa.table({"LastName": ["a", "b"], "sf__Error": ["NON_FINITE_NUMBER:not sent:X --", None]})
    files.add("failed", rejected)
    assert files.errors_by_code == {"NON_FINITE_NUMBER": 1, "UNKNOWN": 1}


# --- add ---------------------------------------------------------------------------------------------------


def test_add_without_job_id_leaves_it_null(files: ResultFiles, tmp_path: Path) -> None:
    files.add("failed", pa.table({"LastName": ["a"], "sf__Error": ["E:x --"]}))
    files.publish()
    assert published(tmp_path, "failed").column("sf__JobId").to_pylist() == [None]


def test_add_casts_non_string_columns_to_string(files: ResultFiles, tmp_path: Path) -> None:
    files.add("unprocessed", pa.table({"LastName": pa.array([12], pa.int64())}), job_id="750A")
    files.publish()
    assert published(tmp_path, "unprocessed").column("LastName").to_pylist() == ["12"]


def test_add_of_an_empty_table_adds_nothing(files: ResultFiles, tmp_path: Path) -> None:
    files.add("failed", pa.table({"LastName": pa.array([], pa.string())}))
    assert files.rows == {}
    assert not (tmp_path / "write-1").exists()


# --- staging and publish -----------------------------------------------------------------------------------


def test_files_stay_under_temporary_until_publish(files: ResultFiles, tmp_path: Path) -> None:
    files.add_csv("failed", csv_file(FAILED_CSV), job_id="750A")
    assert staged(tmp_path, "failed").parent.is_dir()
    assert not (tmp_path / "write-1" / "failed").exists()


def test_publish_gives_one_part_file_per_kind(files: ResultFiles, tmp_path: Path) -> None:
    files.add_csv("failed", csv_file(FAILED_CSV), job_id="750A")
    files.add("unprocessed", pa.table({"LastName": ["u"]}), job_id="750A")
    files.add("successful", pa.table({"sf__Id": ["003A"], "LastName": ["s"]}), job_id="750A")
    assert files.publish() == (
        "failed/part-00003.parquet",
        "successful/part-00003.parquet",
        "unprocessed/part-00003.parquet",
    )
    assert sorted(
        str(path.relative_to(tmp_path / "write-1")) for path in (tmp_path / "write-1").rglob("*.parquet")
    ) == [
        "failed/part-00003.parquet",
        "successful/part-00003.parquet",
        "unprocessed/part-00003.parquet",
    ]


def test_publish_removes_the_attempt_staging_directory(files: ResultFiles, tmp_path: Path) -> None:
    files.add_csv("failed", csv_file(FAILED_CSV), job_id="750A")
    files.publish()
    assert not staged(tmp_path, "failed").parent.exists()


def test_publish_leaves_other_attempts_staging_alone(tmp_path: Path) -> None:
    first = ResultFiles(str(tmp_path / "write-1"), HEADERS, 3, 0)
    second = ResultFiles(str(tmp_path / "write-1"), HEADERS, 3, 1)
    first.add_csv("failed", csv_file(FAILED_CSV), job_id="750A")
    second.add_csv("failed", csv_file(FAILED_CSV), job_id="750B")
    second.publish()
    assert (tmp_path / "write-1" / "_temporary" / "part-00003-attempt-0" / "task-failed.parquet").exists()
    assert set(published(tmp_path, "failed").column("sf__JobId").to_pylist()) == {"750B"}


def test_publish_with_nothing_added(files: ResultFiles, tmp_path: Path) -> None:
    assert files.publish() == ()
    assert not (tmp_path / "write-1").exists()


def test_partition_number_is_zero_padded(tmp_path: Path) -> None:
    files = ResultFiles(str(tmp_path / "write-1"), HEADERS, 12345, 0)
    files.add("unprocessed", pa.table({"LastName": ["u"]}))
    assert files.publish() == ("unprocessed/part-12345.parquet",)


def test_close_keeps_files_in_staging(files: ResultFiles, tmp_path: Path) -> None:
    files.add_csv("failed", csv_file(FAILED_CSV), job_id="750A")
    files.close()
    assert pq.read_table(staged(tmp_path, "failed")).num_rows == 3
    assert not (tmp_path / "write-1" / "failed").exists()


def test_results_dir_given_as_file_uri(tmp_path: Path) -> None:
    files = ResultFiles(f"file://{tmp_path}/write-1", HEADERS, 3, 1)
    files.add_csv("failed", csv_file(FAILED_CSV), job_id="750A")
    assert files.publish() == ("failed/part-00003.parquet",)
    assert published(tmp_path, "failed").num_rows == 3


def test_schemas_have_the_kind_columns_first(files: ResultFiles) -> None:
    for kind, extra in KIND_COLUMNS.items():
        assert files.schemas[kind].names == [*extra, *HEADERS]


# --- threads -----------------------------------------------------------------------------------------------


def test_concurrent_add_from_threads_is_safe(files: ResultFiles, tmp_path: Path) -> None:
    threads, per_thread = 8, 50
    barrier = threading.Barrier(threads)
    errors: list[Exception] = []

    def feed(worker: int) -> None:
        try:
            barrier.wait()
            for index in range(per_thread):
                table = pa.table(
                    {"LastName": [f"{worker}-{index}-{row}" for row in range(3)], "sf__Error": ["E:x --"] * 3}
                )
                files.add("failed", table, job_id=f"job-{worker}")
        except Exception as error:
            errors.append(error)

    workers = [threading.Thread(target=feed, args=(worker,)) for worker in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert errors == []
    assert files.rows["failed"] == files.errors_by_code["E"] == threads * per_thread * 3
    files.publish()
    table = published(tmp_path, "failed")
    expected = {
        f"{worker}-{index}-{row}" for worker in range(threads) for index in range(per_thread) for row in range(3)
    }
    assert set(table.column("LastName").to_pylist()) == expected
    assert table.num_rows == len(expected)
