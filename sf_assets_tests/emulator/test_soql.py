"""SOQL compiled to SQLite: run against a real in-memory database and compared with Salesforce's answers."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from sf_assets.emulator import ids
from sf_assets.emulator.schema import Schema
from sf_assets.emulator.soql import CompiledQuery, SoqlError, compile_soql

VERSION = "59.0"
HINT = "Please reference your WSDL or the describe call for the appropriate names."


@dataclass
class Db:
    """An org database with a few Accounts and Contacts, and their IDs by a short name."""

    conn: sqlite3.Connection
    schema: Schema
    ids: dict[str, str]

    def insert(self, sobject: str, key: str, **values: Any) -> None:
        obj = self.schema.get(sobject)
        assert obj is not None
        self.ids[key] = record_id = self._ids.new(obj.key_prefix)
        row = {"Id": record_id, "IsDeleted": 0, **values}
        columns = ", ".join(f'"{name}"' for name in row)
        marks = ", ".join("?" for _ in row)
        self.conn.execute(f'INSERT INTO "{obj.name}" ({columns}) VALUES ({marks})', tuple(row.values()))

    def __post_init__(self) -> None:
        counter = iter(range(1, 1_000_000, 100_000))
        self._ids = ids.IdGenerator(lambda size: next(counter))


@pytest.fixture
def db() -> Iterator[Db]:
    schema = Schema.load()
    conn = sqlite3.connect(":memory:")
    for obj in schema.objects:
        columns = ", ".join(f'"{f.name}" {f.sql_type}' for f in obj.stored_fields)
        conn.execute(f'CREATE TABLE "{obj.name}" ({columns})')
    data = Db(conn, schema, {})
    data.insert(
        "Account", "acme", Name="Acme", Industry="Technology", AnnualRevenue=1000.5, NumberOfEmployees=50,
        IsPartner=1, CreatedDate="2024-01-31T09:30:00.000+0000",
    )  # fmt: skip
    data.insert(
        "Account", "globex", Name="Globex", AnnualRevenue=250, NumberOfEmployees=10, IsPartner=0,
        CreatedDate="2024-01-31T10:30:00.000+0000",
    )  # fmt: skip
    data.insert("Account", "initech", Name="Initech", NumberOfEmployees=5, IsDeleted=1)
    data.insert("Account", "pure", Name="100% Pure", NumberOfEmployees=7)
    data.insert(
        "Contact", "ada", LastName="Lovelace", FirstName="Ada", AccountId=data.ids["acme"],
        Email="ada@example.com", Birthdate="1815-12-10",
    )  # fmt: skip
    data.insert("Contact", "bob", LastName="O'Brien", FirstName="Bob")
    data.insert("Contact", "cy", LastName="Cyrus", AccountId=data.ids["initech"], Birthdate="1990-01-01")
    data.insert("Contact", "dee", LastName="Dee", AccountId=data.ids["globex"], IsDeleted=1)
    yield data
    conn.close()


def compiled(db: Db, soql: str, **kwargs: Any) -> CompiledQuery:
    return compile_soql(soql, db.schema, **kwargs)


def records(db: Db, soql: str, *, include_deleted: bool = False) -> list[dict[str, object]]:
    query = compiled(db, soql, include_deleted=include_deleted)
    return [query.shape(row, VERSION) for row in db.conn.execute(query.sql, query.params).fetchall()]


def names(db: Db, soql: str, **kwargs: Any) -> list[object]:
    return [record["Name"] for record in records(db, soql, **kwargs)]


def last_names(db: Db, soql: str) -> list[object]:
    return [record["LastName"] for record in records(db, soql)]


def count(db: Db, soql: str) -> int:
    query = compiled(db, soql)
    assert query.count_only
    return int(db.conn.execute(query.sql, query.params).fetchone()[0])


def error(db: Db, soql: str) -> SoqlError:
    with pytest.raises(SoqlError) as caught:
        compiled(db, soql)
    assert caught.value.status == 400
    return caught.value


def url(sobject: str, record_id: str) -> str:
    return f"/services/data/v{VERSION}/sobjects/{sobject}/{record_id}"


# -- SELECT and record shape ---------------------------------------------------------------------------


def test_record_has_attributes_then_fields_in_select_order(db: Db) -> None:
    rows = records(db, f"SELECT Name, Id FROM Account WHERE Id = '{db.ids['acme']}'")

    assert rows == [
        {
            "attributes": {"type": "Account", "url": url("Account", db.ids["acme"])},
            "Name": "Acme",
            "Id": db.ids["acme"],
        }
    ]
    assert list(rows[0]) == ["attributes", "Name", "Id"]


def test_keywords_and_field_names_are_case_insensitive_and_keys_use_schema_spelling(db: Db) -> None:
    rows = records(db, "select NAME, annualrevenue from ACCOUNT where name = 'acme'")

    assert [{k: v for k, v in r.items() if k != "attributes"} for r in rows] == [
        {"Name": "Acme", "AnnualRevenue": 1000.5}
    ]


def test_record_url_is_present_without_selecting_id(db: Db) -> None:
    rows = records(db, "SELECT Name FROM Account WHERE Name = 'Acme'")

    assert rows[0]["attributes"] == {"type": "Account", "url": url("Account", db.ids["acme"])}
    assert "Id" not in rows[0]


def test_values_are_typed_for_json(db: Db) -> None:
    rows = records(
        db, "SELECT IsPartner, NumberOfEmployees, AnnualRevenue, Industry FROM Account WHERE Name = 'Globex'"
    )

    values = {k: v for k, v in rows[0].items() if k != "attributes"}
    assert values == {"IsPartner": False, "NumberOfEmployees": 10, "AnnualRevenue": 250.0, "Industry": None}
    assert type(values["AnnualRevenue"]) is float
    assert type(values["NumberOfEmployees"]) is int


def test_api_version_with_a_leading_v_is_accepted(db: Db) -> None:
    query = compiled(db, "SELECT Id FROM Account WHERE Name = 'Acme'")
    row = db.conn.execute(query.sql, query.params).fetchone()

    assert query.shape(row, "v59.0")["attributes"] == {
        "type": "Account",
        "url": url("Account", db.ids["acme"]),
    }


def test_parent_fields_nest_under_the_relationship_name(db: Db) -> None:
    rows = records(db, "SELECT LastName, Account.Name, Account.Industry FROM Contact WHERE LastName = 'Lovelace'")

    assert rows[0]["Account"] == {
        "attributes": {"type": "Account", "url": url("Account", db.ids["acme"])},
        "Name": "Acme",
        "Industry": "Technology",
    }
    assert list(rows[0]) == ["attributes", "LastName", "Account"]


def test_parent_relationship_is_none_without_a_parent(db: Db) -> None:
    rows = records(db, "SELECT Account.Name FROM Contact WHERE LastName = 'O\\'Brien'")

    assert rows[0]["Account"] is None


def test_soft_deleted_parent_still_shows(db: Db) -> None:
    rows = records(db, "SELECT Account.Name FROM Contact WHERE LastName = 'Cyrus'")

    assert rows[0]["Account"] == {
        "attributes": {"type": "Account", "url": url("Account", db.ids["initech"])},
        "Name": "Initech",
    }


def test_relationship_name_is_case_insensitive(db: Db) -> None:
    rows = records(db, "SELECT account.name FROM Contact WHERE LastName = 'Lovelace'")

    assert rows[0]["Account"]["Name"] == "Acme"  # type: ignore[index]


def test_object_name_prefix_is_allowed_on_fields(db: Db) -> None:
    rows = records(db, "SELECT Contact.LastName, Contact.Account.Name FROM Contact WHERE Contact.LastName = 'Lovelace'")

    assert rows[0]["LastName"] == "Lovelace"
    assert rows[0]["Account"]["Name"] == "Acme"  # type: ignore[index]


def test_object_alias_prefix_is_allowed_on_fields(db: Db) -> None:
    assert last_names(db, "SELECT c.LastName FROM Contact c WHERE c.Account.Name = 'Acme'") == ["Lovelace"]


def test_soft_deleted_rows_are_excluded(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account ORDER BY Name") == ["100% Pure", "Acme", "Globex"]


def test_include_deleted_returns_soft_deleted_rows(db: Db) -> None:
    result = names(db, "SELECT Name FROM Account ORDER BY Name", include_deleted=True)

    assert result == ["100% Pure", "Acme", "Globex", "Initech"]


# -- WHERE -----------------------------------------------------------------------------------------------


def test_equals_ignores_case(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account WHERE Name = 'GLOBEX'") == ["Globex"]


def test_not_equals_keeps_rows_whose_value_is_null(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account WHERE Industry != 'Technology' ORDER BY Name") == [
        "100% Pure",
        "Globex",
    ]


def test_angle_brackets_mean_not_equals(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account WHERE Name <> 'Acme' ORDER BY Name") == ["100% Pure", "Globex"]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("NumberOfEmployees < 10", ["100% Pure"]),
        ("NumberOfEmployees <= 10", ["100% Pure", "Globex"]),
        ("NumberOfEmployees > 10", ["Acme"]),
        ("NumberOfEmployees >= 10", ["Acme", "Globex"]),
        ("AnnualRevenue > 999.99", ["Acme"]),
    ],
)
def test_relational_operators_compare_numbers(db: Db, condition: str, expected: list[str]) -> None:
    assert names(db, f"SELECT Name FROM Account WHERE {condition} ORDER BY Name") == expected


def test_equals_null_matches_missing_values(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account WHERE Industry = null ORDER BY Name") == [
        "100% Pure",
        "Globex",
    ]


def test_not_equals_null_matches_present_values(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account WHERE Industry != NULL") == ["Acme"]


def test_empty_string_means_null(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account WHERE Industry = '' ORDER BY Name") == ["100% Pure", "Globex"]


def test_in_matches_any_listed_value_ignoring_case(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account WHERE Name IN ('acme', 'GLOBEX') ORDER BY Name") == [
        "Acme",
        "Globex",
    ]


def test_in_with_null_also_matches_missing_values(db: Db) -> None:
    result = names(db, "SELECT Name FROM Account WHERE Industry IN ('Technology', null) ORDER BY Name")

    assert result == ["100% Pure", "Acme", "Globex"]


def test_not_in_keeps_rows_whose_value_is_null(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account WHERE Industry NOT IN ('Technology') ORDER BY Name") == [
        "100% Pure",
        "Globex",
    ]


def test_like_uses_soql_wildcards_and_ignores_case(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account WHERE Name LIKE 'g_OB%'") == ["Globex"]


def test_like_with_escaped_percent_matches_a_literal_percent(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account WHERE Name LIKE '%0\\%%'") == ["100% Pure"]


def test_and_binds_conditions(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account WHERE NumberOfEmployees > 5 AND Name LIKE 'A%'") == ["Acme"]


def test_or_with_parentheses_and_not(db: Db) -> None:
    soql = (
        "SELECT Name FROM Account WHERE (Name = 'Acme' OR Name = 'Globex') AND NOT (NumberOfEmployees > 20) "
        "ORDER BY Name"
    )

    assert names(db, soql) == ["Globex"]


def test_not_applies_to_a_bare_comparison(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account WHERE NOT Name = 'Acme' ORDER BY Name") == [
        "100% Pure",
        "Globex",
    ]


def test_boolean_literal_matches_checkbox(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account WHERE IsPartner = TRUE") == ["Acme"]


def test_date_literal_compares_with_date_field(db: Db) -> None:
    assert last_names(db, "SELECT LastName FROM Contact WHERE Birthdate < 1900-01-01") == ["Lovelace"]


def test_datetime_literal_with_offset_is_compared_in_utc(db: Db) -> None:
    # 11:00 at +01:00 is 10:00 UTC: after Acme (09:30 UTC), before Globex (10:30 UTC).
    assert names(db, "SELECT Name FROM Account WHERE CreatedDate < 2024-01-31T11:00:00+01:00") == ["Acme"]


def test_datetime_literal_in_utc_with_fraction(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account WHERE CreatedDate = 2024-01-31T10:30:00.000Z") == ["Globex"]


def test_string_literal_escapes_are_decoded(db: Db) -> None:
    assert last_names(db, "SELECT LastName FROM Contact WHERE LastName = 'O\\'Brien'") == ["O'Brien"]


def test_fifteen_character_id_matches_its_eighteen_character_form(db: Db) -> None:
    short = db.ids["acme"][:15]

    assert names(db, f"SELECT Name FROM Account WHERE Id = '{short}'") == ["Acme"]


def test_reference_field_in_list(db: Db) -> None:
    listed = f"'{db.ids['acme']}', '{db.ids['initech']}'"
    soql = f"SELECT LastName FROM Contact WHERE AccountId IN ({listed}) ORDER BY LastName"

    assert last_names(db, soql) == ["Cyrus", "Lovelace"]


def test_filter_on_parent_field(db: Db) -> None:
    assert last_names(db, "SELECT LastName FROM Contact WHERE Account.Name LIKE 'ac%'") == ["Lovelace"]


def test_literal_values_travel_as_parameters(db: Db) -> None:
    query = compiled(db, "SELECT Name FROM Account WHERE Name = 'x\\' OR \\'1\\'=\\'1'")

    assert "OR '1'" not in query.sql
    assert query.params == ("x' OR '1'='1",)
    assert db.conn.execute(query.sql, query.params).fetchall() == []


# -- ORDER BY, LIMIT, OFFSET ----------------------------------------------------------------------------


def test_order_by_defaults_to_ascending_with_nulls_first(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account ORDER BY Industry, Name") == ["100% Pure", "Globex", "Acme"]


def test_order_by_descending_keeps_nulls_first_by_default(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account ORDER BY Industry DESC, Name") == [
        "100% Pure",
        "Globex",
        "Acme",
    ]


def test_order_by_nulls_last(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account ORDER BY Industry ASC NULLS LAST, Name DESC") == [
        "Acme",
        "Globex",
        "100% Pure",
    ]


def test_order_by_text_ignores_case(db: Db) -> None:
    db.insert("Account", "lower", Name="apex")

    assert names(db, "SELECT Name FROM Account ORDER BY Name") == ["100% Pure", "Acme", "apex", "Globex"]


def test_order_by_parent_field(db: Db) -> None:
    assert last_names(db, "SELECT LastName FROM Contact ORDER BY Account.Name DESC NULLS LAST") == [
        "Cyrus",
        "Lovelace",
        "O'Brien",
    ]


def test_unsorted_rows_come_in_creation_order(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account") == ["Acme", "Globex", "100% Pure"]


def test_limit_and_offset(db: Db) -> None:
    query = compiled(db, "SELECT Name FROM Account ORDER BY Name LIMIT 1 OFFSET 1")

    assert names(db, "SELECT Name FROM Account ORDER BY Name LIMIT 1 OFFSET 1") == ["Acme"]
    assert query.limit == 1


def test_offset_without_limit(db: Db) -> None:
    assert names(db, "SELECT Name FROM Account ORDER BY Name OFFSET 2") == ["Globex"]


# -- COUNT ---------------------------------------------------------------------------------------------


def test_count_returns_the_number_of_matching_rows(db: Db) -> None:
    assert count(db, "SELECT COUNT() FROM Contact WHERE Account.Name != null") == 2


def test_count_is_capped_by_limit(db: Db) -> None:
    assert count(db, "SELECT count() FROM Account LIMIT 2") == 2


def test_count_has_no_records_to_shape(db: Db) -> None:
    query = compiled(db, "SELECT COUNT() FROM Account")

    with pytest.raises(ValueError, match="COUNT"):
        query.shape((3,), VERSION)


def test_count_of_a_field_is_an_aggregate_result(db: Db) -> None:
    assert records(db, "SELECT COUNT(Id), COUNT(AccountId) withAccount FROM Contact") == [
        {"attributes": {"type": "AggregateResult"}, "expr0": 3, "withAccount": 2}
    ]


def test_count_with_order_by_is_refused(db: Db) -> None:
    caught = error(db, "SELECT COUNT() FROM Account ORDER BY Name")

    assert (caught.error_code, caught.message) == (
        "MALFORMED_QUERY",
        "COUNT() and ORDER BY may not be used together.",
    )


def test_plain_field_beside_an_aggregate_is_refused(db: Db) -> None:
    caught = error(db, "SELECT Name, COUNT(Id) FROM Account")

    assert caught.error_code == "MALFORMED_QUERY"
    assert caught.message.endswith("\nERROR at Row:1:Column:8\nField must be grouped or aggregated: Name")


def test_count_must_be_the_whole_field_list(db: Db) -> None:
    caught = error(db, "SELECT COUNT(), Id FROM Account")

    assert caught.message.endswith("unexpected token: ','")


# -- Salesforce's errors -------------------------------------------------------------------------------


def test_unknown_object_is_invalid_type(db: Db) -> None:
    caught = error(db, "SELECT Id FROM Foo")

    assert caught.error_code == "INVALID_TYPE"
    assert caught.message == (
        "\nSELECT Id FROM Foo\n               ^\nERROR at Row:1:Column:16\n"
        "sObject type 'Foo' is not supported. If you are attempting to use a custom object, be sure to "
        f"append the '__c' after the entity name. {HINT}"
    )


def test_unknown_field_is_invalid_field(db: Db) -> None:
    caught = error(db, "SELECT Id, Foo FROM Account")

    assert caught.error_code == "INVALID_FIELD"
    assert caught.message == (
        "\nSELECT Id, Foo FROM Account\n           ^\nERROR at Row:1:Column:12\n"
        "No such column 'Foo' on entity 'Account'. If you are attempting to use a custom field, be sure to "
        f"append the '__c' after the custom field name. {HINT}"
    )


def test_unknown_object_is_reported_before_unknown_fields(db: Db) -> None:
    assert error(db, "SELECT Foo FROM Bar").error_code == "INVALID_TYPE"


def test_unknown_field_in_where_points_at_it(db: Db) -> None:
    caught = error(db, "SELECT Id FROM Account WHERE Bogus__c = 1")

    assert "\nERROR at Row:1:Column:30\nNo such column 'Bogus__c' on entity 'Account'." in caught.message


def test_unknown_parent_field_names_the_parent_entity(db: Db) -> None:
    caught = error(db, "SELECT Account.Foo FROM Contact")

    assert caught.error_code == "INVALID_FIELD"
    assert "No such column 'Foo' on entity 'Account'." in caught.message


def test_unknown_relationship_is_invalid_field(db: Db) -> None:
    caught = error(db, "SELECT Acount.Name FROM Contact")

    assert caught.error_code == "INVALID_FIELD"
    assert caught.message.endswith(
        "\nERROR at Row:1:Column:8\nDidn't understand relationship 'Acount' in field path. If you are "
        "attempting to use a custom relationship, be sure to append the '__r' after the custom relationship "
        f"name. {HINT}"
    )


def test_relationship_to_an_object_the_org_does_not_store_is_invalid_field(db: Db) -> None:
    caught = error(db, "SELECT Owner.Name FROM Account")

    assert caught.error_code == "INVALID_FIELD"
    assert "Didn't understand relationship 'Owner' in field path." in caught.message


def test_error_on_a_later_line_reports_that_row(db: Db) -> None:
    caught = error(db, "SELECT Id,\n  Nope\nFROM Account")

    assert caught.message.startswith("\n  Nope\n  ^\nERROR at Row:2:Column:3\nNo such column 'Nope'")


def test_long_query_echoes_a_window_of_whole_words_around_the_error(db: Db) -> None:
    fields = "Id, Name, Type, ParentId, BillingCity, BillingState, LastReferencedDate, Jigsaw, JigsawCompanyId"
    soql = f"SELECT {fields}, Bogus, AccountSource, DunsNumber FROM Account WHERE Name != null"

    caught = error(db, soql)

    column = soql.index("Bogus") + 1
    assert caught.message.startswith(
        "\nLastReferencedDate, Jigsaw, JigsawCompanyId, Bogus, AccountSource, DunsNumber\n"
        f"{' ' * 45}^\nERROR at Row:1:Column:{column}\nNo such column 'Bogus' on entity 'Account'."
    )


def test_mixing_and_with_or_needs_parentheses(db: Db) -> None:
    soql = (
        "SELECT Id, Email, Name\nFROM Contact\nWHERE AccountId = '0014000000p6XlS' AND LastName LIKE 'test' "
        "OR email LIKE 'test'"
    )

    caught = error(db, soql)

    # Salesforce's parser counts syntax-error columns from 0, and draws the caret one to the left.
    assert caught.error_code == "MALFORMED_QUERY"
    assert caught.message == (
        "\n'0014000000p6XlS' AND LastName LIKE 'test' OR email LIKE 'test'\n"
        f"{' ' * 42}^\nERROR at Row:3:Column:61\nunexpected token: 'OR'"
    )


def test_unexpected_end_of_query(db: Db) -> None:
    caught = error(db, "SELECT Id FROM Account WHERE")

    assert caught.message == (
        "\nSELECT Id FROM Account WHERE\n                           ^\nERROR at Row:1:Column:28\n"
        "unexpected token: '<EOF>'"
    )


def test_quote_inside_a_string_ends_it(db: Db) -> None:
    caught = error(db, "SELECT Id FROM Account WHERE Name = 'O'Brien'")

    assert caught.message.endswith("unexpected token: 'Brien'")


def test_unterminated_string(db: Db) -> None:
    caught = error(db, "SELECT Id FROM Account WHERE Name = 'abc")

    assert caught.error_code == "MALFORMED_QUERY"
    assert caught.message.endswith("ERROR at Row:1:Column:40\nline 1:40 mismatched character '<EOF>' expecting '''")


def test_unknown_escape_in_a_string(db: Db) -> None:
    caught = error(db, "SELECT Id FROM Account WHERE Name = 'a\\qb'")

    assert caught.error_code == "MALFORMED_QUERY"
    assert "Illegal character sequence '\\q' in string literal." in caught.message


def test_datetime_without_a_time_zone_is_a_lexical_error(db: Db) -> None:
    caught = error(db, "Select Id from Account  where CreatedDate < 2016-07-31T04:17:54")

    assert caught.message == (
        "\nCreatedDate < 2016-07-31T04:17:54\n                                ^\nERROR at Row:1:Column:63\n"
        "line 1:63 no viable alternative at character '<EOF>'"
    )


def test_stray_character_is_a_lexical_error(db: Db) -> None:
    caught = error(db, 'SELECT Id FROM Account WHERE Name = "Acme"')

    assert caught.message.endswith("line 1:36 no viable alternative at character '\"'")


def test_bind_variables_are_refused(db: Db) -> None:
    caught = error(db, "SELECT Id FROM Account WHERE Name IN :names")

    assert caught.message.endswith("Bind variables only allowed in Apex code")


def test_in_needs_a_parenthesized_list(db: Db) -> None:
    caught = error(db, "SELECT Id FROM Account WHERE Name IN 'Acme'")

    assert caught.message.endswith("expecting a colon, found ''Acme''")


def test_missing_right_parenthesis(db: Db) -> None:
    caught = error(db, "SELECT Id FROM Account WHERE (Name = 'Acme' LIMIT 1")

    assert caught.message.endswith("expecting a right parentheses, found 'LIMIT'")


def test_duplicate_field_is_refused(db: Db) -> None:
    caught = error(db, "SELECT Id, Name, name FROM Account")

    assert (caught.error_code, caught.message) == ("INVALID_FIELD", "duplicate field selected: Name")


def test_quoted_value_for_a_number_field_is_refused(db: Db) -> None:
    caught = error(db, "SELECT Id FROM Account WHERE AnnualRevenue > '5'")

    assert caught.error_code == "INVALID_FIELD"
    assert caught.message.endswith(
        "value of filter criterion for field 'AnnualRevenue' must be of type double and should not be "
        "enclosed in quotes"
    )


def test_date_value_for_a_datetime_field_is_refused(db: Db) -> None:
    caught = error(db, "SELECT Id FROM Account WHERE CreatedDate > 2024-01-31")

    assert caught.message.endswith(
        "value of filter criterion for field 'CreatedDate' must be of type dateTime and should not be "
        "enclosed in quotes"
    )


def test_unquoted_value_for_a_text_field_is_refused(db: Db) -> None:
    caught = error(db, "SELECT Id FROM Account WHERE Name = 5")

    assert caught.message.endswith(
        "value of filter criterion for field 'Name' must be of type string and should be enclosed in quotes"
    )


def test_malformed_id_value_is_refused(db: Db) -> None:
    caught = error(db, "SELECT Id FROM Account WHERE Id = 'abc'")

    assert caught.error_code == "INVALID_QUERY_FILTER_OPERATOR"
    assert caught.message.endswith("ERROR at Row:1:Column:35\ninvalid ID field: abc")


def test_like_on_an_id_field_is_refused(db: Db) -> None:
    caught = error(db, "SELECT Id FROM Contact WHERE AccountId LIKE '001%'")

    assert (caught.error_code, caught.message.rsplit("\n", 1)[1]) == (
        "INVALID_QUERY_FILTER_OPERATOR",
        "invalid operator on id field",
    )


def test_long_text_area_cannot_be_filtered(db: Db) -> None:
    caught = error(db, "SELECT Id FROM Account WHERE Description = 'x'")

    assert caught.message.endswith("field 'Description' can not be filtered in query call")


def test_offset_above_2000_is_out_of_range(db: Db) -> None:
    caught = error(db, "SELECT Id FROM Account LIMIT 10 OFFSET 2001")

    assert caught.error_code == "NUMBER_OUTSIDE_VALID_RANGE"
    assert caught.message.endswith("Maximum SOQL offset allowed is 2000")


@pytest.mark.parametrize(
    ("soql", "construct"),
    [
        ("SELECT Industry FROM Account GROUP BY Industry", "GROUP BY"),
        ("SELECT Id FROM Account WHERE CreatedDate = TODAY", "The date literal TODAY"),
        ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "A relationship subquery"),
        ("SELECT FIELDS(ALL) FROM Account", "The function FIELDS()"),
        ("SELECT Id FROM Contact WHERE AccountId IN (SELECT Id FROM Account)", "A semi-join subquery"),
        ("SELECT Account.Parent.Name FROM Contact", "The relationship path Account.Parent.Name"),
    ],
)
def test_salesforce_features_outside_the_subset_are_named(db: Db, soql: str, construct: str) -> None:
    caught = error(db, soql)

    assert caught.error_code == "MALFORMED_QUERY"
    assert construct in caught.message.rsplit("\n", 1)[1]
