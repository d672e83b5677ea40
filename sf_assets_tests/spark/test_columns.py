"""plan_columns against the local org's recorded Account and Contact describes (Spark types, no SparkSession)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    CharType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    NullType,
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
    VarcharType,
)

from sf_assets.bulk import Credentials, ObjectDescribe, Transport
from sf_assets.emulator import LocalOrg
from sf_assets.spark.columns import NULL_TOKEN, Column, ColumnPlan, SchemaError, plan_columns
from sf_assets.spark.options import WriteOptions

Describe = Callable[[str], ObjectDescribe]


@pytest.fixture(scope="module")
def describes(local_org: LocalOrg) -> Iterator[dict[str, ObjectDescribe]]:
    """The org's Account and Contact describes, fetched once per module, by lower-cased name."""
    transport = Transport(
        Credentials(session_id=local_org.new_session(), instance_url=local_org.instance_url),
        ca_file=str(local_org.tls.ca_file),
    )
    try:
        yield {name.lower(): ObjectDescribe.fetch(transport, name) for name in ("Account", "Contact")}
    finally:
        transport.http.close()


@pytest.fixture
def describe(describes: dict[str, ObjectDescribe]) -> Describe:
    """Looks objects up in any case, as the org's describe does."""
    return lambda name: describes[name.lower()]


def schema(*columns: str | tuple[str, DataType]) -> StructType:
    """A schema of string columns, or (name, type) pairs."""
    fields = [
        StructField(column, StringType()) if isinstance(column, str) else StructField(column[0], column[1])
        for column in columns
    ]
    return StructType(fields)


def options(sobject: str = "Contact", operation: str = "insert", **extra: object) -> WriteOptions:
    return WriteOptions(credentials=Credentials(), sobject=sobject, operation=operation, **extra)  # type: ignore[arg-type]


def plan(describe: Describe, struct: StructType, write: WriteOptions | None = None) -> ColumnPlan:
    return plan_columns(struct, write or options(), describe)


def problems(describe: Describe, struct: StructType, write: WriteOptions | None = None) -> list[str]:
    with pytest.raises(SchemaError) as caught:
        plan_columns(struct, write or options(), describe)
    return caught.value.problems


# --- the describes themselves (guards for the facts the tests below rely on) -----------------------------


def test_recorded_describes_have_the_expected_facts(describes: dict[str, ObjectDescribe]) -> None:
    contact, account = describes["contact"], describes["account"]
    assert contact.external_ids() == ["Id", "External_Id__c"]
    assert account.external_ids() == ["Id", "Oracle_Id__c"]
    assert [info.name for info in contact.fields if info.required_on_insert] == ["LastName"]
    assert [info.name for info in account.fields if info.required_on_insert] == ["Name"]


# --- valid plans -----------------------------------------------------------------------------------------


def test_valid_insert_keeps_dataframe_order_and_spelling(describe: Describe) -> None:
    result = plan(describe, schema("Email", "LastName", "FirstName"))
    assert result == ColumnPlan(
        "Contact", (Column("Email", "string", ""), Column("LastName", "string", ""), Column("FirstName", "string", ""))
    )


def test_headers_property(describe: Describe) -> None:
    assert plan(describe, schema("LastName", "Email")).headers == ["LastName", "Email"]


def test_insert_into_account_with_name(describe: Describe) -> None:
    assert plan(describe, schema("Name", "Oracle_Id__c"), options("Account")).sobject == "Account"


@pytest.mark.parametrize(
    "spark_type",
    [
        StringType(),
        VarcharType(10),
        CharType(3),
        BooleanType(),
        ByteType(),
        ShortType(),
        IntegerType(),
        LongType(),
        FloatType(),
        DoubleType(),
        DecimalType(18, 2),
        DateType(),
        TimestampType(),
        TimestampNTZType(),
        NullType(),
    ],
    ids=lambda spark_type: spark_type.simpleString(),
)
def test_supported_spark_types_are_accepted(describe: Describe, spark_type: DataType) -> None:
    result = plan(describe, schema("LastName", ("Description", spark_type)))
    assert result.columns[1] == Column("Description", spark_type.typeName(), "")


# --- field problems --------------------------------------------------------------------------------------


def test_unknown_column_with_suggestion(describe: Describe) -> None:
    assert problems(describe, schema("LastName", "Emial")) == [
        "column 'Emial': Contact has no such field; did you mean 'Email'?"
    ]


def test_unknown_column_without_close_field(describe: Describe) -> None:
    assert problems(describe, schema("LastName", "Zyxwvut")) == ["column 'Zyxwvut': Contact has no such field"]


def test_mis_cased_column(describe: Describe) -> None:
    assert problems(describe, schema("lastname")) == [
        "column 'lastname': the field is spelled 'LastName' (rename the column)"
    ]


@pytest.mark.parametrize("field", ["Name", "CreatedDate", "IsDeleted"])
def test_not_createable_on_insert(describe: Describe, field: str) -> None:
    assert problems(describe, schema("LastName", field)) == [
        f"column {field!r}: field Contact.{field} is not createable, so an insert cannot set it"
    ]


@pytest.mark.parametrize("field", ["Name", "CreatedDate"])
def test_not_updateable_on_update(describe: Describe, field: str) -> None:
    assert problems(describe, schema("Id", field), options(operation="update")) == [
        f"column {field!r}: field Contact.{field} is not updateable, so an update cannot set it"
    ]


def test_updateable_but_not_createable_field_is_fine_on_update(describe: Describe) -> None:
    assert plan(describe, schema("Id", "IsPartner"), options("Account", "update")).headers == ["Id", "IsPartner"]


def test_updateable_but_not_createable_field_is_refused_on_insert(describe: Describe) -> None:
    assert problems(describe, schema("Name", "IsPartner"), options("Account")) == [
        "column 'IsPartner': field Account.IsPartner is not createable, so an insert cannot set it"
    ]


def test_read_only_field_on_upsert(describe: Describe) -> None:
    write = options(operation="upsert", upsert_field="External_Id__c")
    assert problems(describe, schema("External_Id__c", "Name"), write) == [
        "column 'Name': field Contact.Name is neither createable nor updateable"
    ]


def test_missing_required_field_on_contact_insert(describe: Describe) -> None:
    assert problems(describe, schema("FirstName", "Email")) == ["insert into Contact needs the required field LastName"]


def test_missing_required_field_on_account_insert(describe: Describe) -> None:
    assert problems(describe, schema("Oracle_Id__c"), options("Account")) == [
        "insert into Account needs the required field Name"
    ]


def test_required_field_is_not_needed_on_update(describe: Describe) -> None:
    assert plan(describe, schema("Id", "Email"), options(operation="update")).headers == ["Id", "Email"]


def test_id_on_insert_is_refused(describe: Describe) -> None:
    assert problems(describe, schema("Id", "LastName")) == [
        "column 'Id': an insert creates new records and cannot take an Id; drop the column"
    ]


def test_update_without_id(describe: Describe) -> None:
    assert problems(describe, schema("Email"), options(operation="update")) == [
        "update needs the column 'Id' (the records to change); to match on an external ID use upsert"
    ]


def test_update_with_id(describe: Describe) -> None:
    assert plan(describe, schema("Id", "LastName"), options(operation="update")).headers == ["Id", "LastName"]


# --- upsert ----------------------------------------------------------------------------------------------


def test_upsert_on_external_id(describe: Describe) -> None:
    write = options(operation="upsert", upsert_field="External_Id__c")
    assert plan(describe, schema("External_Id__c", "LastName"), write).headers == ["External_Id__c", "LastName"]


def test_upsert_on_id(describe: Describe) -> None:
    write = options(operation="upsert", upsert_field="Id")
    assert plan(describe, schema("Id", "LastName"), write).headers == ["Id", "LastName"]


def test_upsert_field_that_is_not_an_external_id_lists_the_external_ids(describe: Describe) -> None:
    write = options(operation="upsert", upsert_field="Email")
    assert problems(describe, schema("Email", "LastName"), write) == [
        "option upsertField='Email': Contact.Email is not an external ID field; use one of Id, External_Id__c"
    ]


def test_upsert_field_unknown(describe: Describe) -> None:
    write = options("Account", "upsert", upsert_field="SAP_Id__c")
    assert problems(describe, schema("Name"), write) == [
        "option upsertField='SAP_Id__c': Account has no such field; its external IDs are Id, Oracle_Id__c",
        "option upsertField='SAP_Id__c': the DataFrame has no column 'SAP_Id__c' to match on",
    ]


def test_upsert_field_missing_from_columns(describe: Describe) -> None:
    write = options("Account", "upsert", upsert_field="Oracle_Id__c")
    assert problems(describe, schema("Name"), write) == [
        "option upsertField='Oracle_Id__c': the DataFrame has no column 'Oracle_Id__c' to match on"
    ]


def test_upsert_field_mis_cased(describe: Describe) -> None:
    write = options("Account", "upsert", upsert_field="oracle_id__c")
    assert "option upsertField='oracle_id__c': the field is spelled 'Oracle_Id__c'" in problems(
        describe, schema("oracle_id__c", "Name"), write
    )


# --- delete / hardDelete ---------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["delete", "hardDelete"])
def test_delete_with_only_id(describe: Describe, operation: str) -> None:
    assert plan(describe, schema("Id"), options(operation=operation)) == ColumnPlan(
        "Contact", (Column("Id", "string", ""),)
    )


@pytest.mark.parametrize("operation", ["delete", "hardDelete"])
def test_delete_with_other_columns(describe: Describe, operation: str) -> None:
    assert problems(describe, schema("Id", "LastName", "CreatedDate"), options(operation=operation)) == [
        f"{operation} takes only the column 'Id'; drop 'LastName', 'CreatedDate'"
    ]


def test_delete_without_id(describe: Describe) -> None:
    assert problems(describe, schema("External_Id__c"), options(operation="delete")) == [
        "delete takes only the column 'Id'; drop 'External_Id__c' and add Id"
    ]


# --- relationship columns --------------------------------------------------------------------------------


def test_relationship_to_external_id_is_accepted(describe: Describe) -> None:
    result = plan(describe, schema("LastName", "Account.Oracle_Id__c"))
    assert result.columns[1] == Column("Account.Oracle_Id__c", "string", "")


def test_relationship_to_non_external_id_names_the_external_ids(describe: Describe) -> None:
    assert problems(describe, schema("LastName", "Account.Name")) == [
        "column 'Account.Name': Account.Name is not an external ID field (external IDs: Oracle_Id__c)"
    ]


def test_relationship_to_parent_id_is_refused(describe: Describe) -> None:
    assert problems(describe, schema("LastName", "Account.Id")) == [
        "column 'Account.Id': Account.Id is not an external ID field (external IDs: Oracle_Id__c)"
    ]


def test_self_relationship_to_external_id(describe: Describe) -> None:
    result = plan(describe, schema("Name", "Parent.Oracle_Id__c"), options("Account"))
    assert result.headers == ["Name", "Parent.Oracle_Id__c"]


def test_unknown_relationship_with_suggestion(describe: Describe) -> None:
    assert problems(describe, schema("LastName", "Acount.Oracle_Id__c")) == [
        "column 'Acount.Oracle_Id__c': Contact has no relationship 'Acount'; did you mean 'Account'?"
    ]


def test_unknown_relationship_without_suggestion(describe: Describe) -> None:
    assert problems(describe, schema("LastName", "Zyxw.Oracle_Id__c")) == [
        "column 'Zyxw.Oracle_Id__c': Contact has no relationship 'Zyxw'"
    ]


def test_field_name_used_as_relationship(describe: Describe) -> None:
    assert problems(describe, schema("LastName", "AccountId.Oracle_Id__c")) == [
        "column 'AccountId.Oracle_Id__c': Contact has no relationship 'AccountId'; did you mean 'Account'?"
    ]


def test_mis_cased_relationship(describe: Describe) -> None:
    assert problems(describe, schema("LastName", "account.Oracle_Id__c")) == [
        "column 'account.Oracle_Id__c': the relationship is spelled 'Account' (rename the column)"
    ]


def test_mis_cased_parent_field(describe: Describe) -> None:
    assert problems(describe, schema("LastName", "Account.oracle_id__c")) == [
        "column 'Account.oracle_id__c': the field is spelled 'Oracle_Id__c' (rename the column to Account.Oracle_Id__c)"
    ]


def test_unknown_parent_field_with_suggestion(describe: Describe) -> None:
    assert problems(describe, schema("LastName", "Account.Oracle_Idd__c")) == [
        "column 'Account.Oracle_Idd__c': Account has no field 'Oracle_Idd__c'; did you mean 'Oracle_Id__c'?"
    ]


@pytest.mark.parametrize("column", ["Account.", "Account.Parent.Oracle_Id__c"])
def test_relationship_column_of_the_wrong_form(describe: Describe, column: str) -> None:
    assert problems(describe, schema("LastName", column)) == [
        f"column {column!r}: a relationship column is Relationship.ExternalIdField, e.g. Account.Oracle_Id__c"
    ]


def test_polymorphic_relationship_is_refused(describes: dict[str, ObjectDescribe]) -> None:
    contact = describes["contact"]
    fields = tuple(
        dataclasses.replace(info, reference_to=("User", "Group")) if info.name == "OwnerId" else info
        for info in contact.fields
    )
    polymorphic = dataclasses.replace(contact, fields=fields)
    assert problems(lambda name: polymorphic, schema("LastName", "Owner.Email")) == [
        "column 'Owner.Email': OwnerId is polymorphic (User, Group); not supported"
    ]


# --- Spark types -----------------------------------------------------------------------------------------

_JOIN_HINT = "join a multi-select picklist's values with ';' (concat_ws) or drop the column"
_CAST_HINT = "cast it to a string, number, boolean, date or timestamp"


@pytest.mark.parametrize(
    ("spark_type", "shown", "hint"),
    [
        (ArrayType(StringType()), "array<string>", _JOIN_HINT),
        (BinaryType(), "binary", "Bulk API CSV cannot carry binary data; drop the column"),
        (MapType(StringType(), StringType()), "map<string,string>", _CAST_HINT),
        (StructType([StructField("street", StringType())]), "struct<street:string>", _CAST_HINT),
    ],
    ids=["array", "binary", "map", "struct"],
)
def test_unsupported_spark_type(describe: Describe, spark_type: DataType, shown: str, hint: str) -> None:
    assert problems(describe, schema("LastName", ("Description", spark_type))) == [
        f"column 'Description' has type {shown}, which has no Salesforce CSV form; {hint}"
    ]


def test_unsupported_type_on_a_relationship_column(describe: Describe) -> None:
    assert problems(describe, schema("LastName", ("Account.Oracle_Id__c", BinaryType()))) == [
        "column 'Account.Oracle_Id__c' has type binary, which has no Salesforce CSV form; "
        "Bulk API CSV cannot carry binary data; drop the column"
    ]


# --- several problems, duplicates, sobject spelling --------------------------------------------------------


def test_duplicate_columns_differing_only_in_case(describe: Describe) -> None:
    assert problems(describe, schema("LastName", "Email", "email")) == [
        "columns 'Email' and 'email' name the same field",
        "column 'email': the field is spelled 'Email' (rename the column)",
    ]


def test_no_columns(describe: Describe) -> None:
    assert problems(describe, schema()) == [
        "the DataFrame has no columns",
        "insert into Contact needs the required field LastName",
    ]


def test_several_problems_are_reported_at_once(describe: Describe) -> None:
    struct = schema("Id", "Emial", ("Tags", ArrayType(StringType())), "Account.Name", "CreatedDate")
    with pytest.raises(SchemaError) as caught:
        plan_columns(struct, options(), describe)
    error = caught.value
    assert error.problems == [
        "column 'Id': an insert creates new records and cannot take an Id; drop the column",
        "column 'Emial': Contact has no such field; did you mean 'Email'?",
        "column 'Tags' has type array<string>, which has no Salesforce CSV form; " + _JOIN_HINT,
        "column 'Tags': Contact has no such field",
        "column 'Account.Name': Account.Name is not an external ID field (external IDs: Oracle_Id__c)",
        "column 'CreatedDate': field Contact.CreatedDate is not createable, so an insert cannot set it",
        "insert into Contact needs the required field LastName",
    ]
    assert str(error) == "cannot insert Contact: 7 problems, nothing was sent:\n" + "\n".join(
        f"  - {problem}" for problem in error.problems
    )


def test_schema_error_with_one_problem_says_problem(describe: Describe) -> None:
    with pytest.raises(SchemaError, match=r"^cannot update Contact: 1 problem, nothing was sent:\n  - update needs"):
        plan_columns(schema("Email"), options(operation="update"), describe)


def test_schema_error_is_a_value_error() -> None:
    assert issubclass(SchemaError, ValueError)


def test_wrong_case_sobject_is_reported_with_the_right_name(describe: Describe) -> None:
    assert problems(describe, schema("LastName"), options("contact")) == [
        "option sobject='contact': the object is called 'Contact'"
    ]


def test_wrong_case_sobject_error_uses_the_describe_name(describe: Describe) -> None:
    with pytest.raises(SchemaError, match=r"^cannot insert Contact: 1 problem"):
        plan_columns(schema("LastName"), options("CONTACT"), describe)


# --- null values ---------------------------------------------------------------------------------------------


def null_values(result: ColumnPlan) -> dict[str, str]:
    return {column.header: column.null_value for column in result.columns}


def test_null_value_on_insert_is_empty(describe: Describe) -> None:
    result = plan(describe, schema("LastName", "Email", "Account.Oracle_Id__c"))
    assert null_values(result) == {"LastName": "", "Email": "", "Account.Oracle_Id__c": ""}


def test_null_value_on_update_clears_fields_but_not_id(describe: Describe) -> None:
    result = plan(describe, schema("Id", "Email", "Phone"), options(operation="update"))
    assert null_values(result) == {"Id": "", "Email": NULL_TOKEN, "Phone": NULL_TOKEN}


def test_null_value_on_upsert_spares_the_key_and_relationships(describe: Describe) -> None:
    write = options(operation="upsert", upsert_field="External_Id__c")
    result = plan(describe, schema("External_Id__c", "LastName", "Account.Oracle_Id__c"), write)
    assert null_values(result) == {"External_Id__c": "", "LastName": NULL_TOKEN, "Account.Oracle_Id__c": ""}


def test_null_value_with_ignore_null_values_on_update(describe: Describe) -> None:
    result = plan(describe, schema("Id", "Email"), options(operation="update", ignore_null_values=True))
    assert null_values(result) == {"Id": "", "Email": ""}


def test_null_value_with_ignore_null_values_on_upsert(describe: Describe) -> None:
    write = options(operation="upsert", upsert_field="External_Id__c", ignore_null_values=True)
    result = plan(describe, schema("External_Id__c", "LastName"), write)
    assert null_values(result) == {"External_Id__c": "", "LastName": ""}


@pytest.mark.parametrize("operation", ["delete", "hardDelete"])
def test_null_value_on_delete(describe: Describe, operation: str) -> None:
    assert null_values(plan(describe, schema("Id"), options(operation=operation))) == {"Id": ""}


# --- relationship columns and the reference field's permissions ----------------------------------------------


def test_relationship_through_a_read_only_reference_is_refused_on_insert(describe: Describe) -> None:
    # MasterRecordId is neither createable nor updateable; the plain column is refused, its relationship is not.
    assert problems(describe, schema("Name", "MasterRecordId"), options("Account")) == [
        "column 'MasterRecordId': field Account.MasterRecordId is not createable, so an insert cannot set it"
    ]
    with pytest.raises(SchemaError, match="MasterRecord"):
        plan_columns(schema("Name", "MasterRecord.Oracle_Id__c"), options("Account"), describe)


def test_relationship_through_a_read_only_reference_is_refused_on_update(describe: Describe) -> None:
    with pytest.raises(SchemaError, match="MasterRecord"):
        plan_columns(schema("Id", "MasterRecord.Oracle_Id__c"), options("Account", "update"), describe)


def test_required_reference_given_as_relationship_column(describes: dict[str, ObjectDescribe]) -> None:
    # A master-detail field is createable, not nillable and has no default: required on insert.
    contact = describes["contact"]
    fields = tuple(
        dataclasses.replace(info, nillable=False) if info.name == "AccountId" else info for info in contact.fields
    )
    child = dataclasses.replace(contact, fields=fields)

    def lookup(name: str) -> ObjectDescribe:
        return child if name.lower() == "contact" else describes[name.lower()]

    assert plan(lookup, schema("LastName", "Account.Oracle_Id__c")).headers == ["LastName", "Account.Oracle_Id__c"]
