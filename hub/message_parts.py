"""Building blocks shared by the message envelope and the bodies: text types, parties, contacts.

Every model is strict (``extra="forbid"``, ``strict=True``, ``frozen=True``). Custom errors are
``PydanticCustomError`` with a stable ``type`` and ``ctx`` carrying ``zh`` and ``en`` texts and,
when raised above the field concerned, ``field`` (a dotted path relative to the error location);
``hub.validation`` turns them into ``FieldProblem``\\ s.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from hub.message_dates import EventDate
from hub.uscc import UsccError, validate_uscc

STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


def custom_error(type_: str, zh: str, en: str, field: str | None = None) -> PydanticCustomError:
    """A ``PydanticCustomError`` following the hub's convention (ctx: zh, en, optional field)."""
    ctx: dict[str, Any] = {"zh": zh, "en": en}
    if field is not None:
        ctx["field"] = field
    return PydanticCustomError(type_, "{en}", ctx)


STORED = "hub.stored"
"""Validation context key: the message comes from the ledger, where it was checked on entry
(the 统一社会信用代码 checksum is not recomputed for every delivery)."""


def _not_blank(value: str) -> str:
    if not value.strip():
        raise custom_error("blank_string", "不能为空白", "must not be blank")
    return value


def _uscc(value: str, info: ValidationInfo) -> str:
    if info.context and info.context.get(STORED):  # checked when it was accepted
        return value
    try:
        return validate_uscc(value)
    except UsccError as exc:
        raise custom_error("uscc_invalid", exc.zh, exc.en) from exc


Name = Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(_not_blank)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_not_blank)]
ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=500), AfterValidator(_not_blank)
]
LongText = Annotated[
    str, StringConstraints(min_length=1, max_length=4000), AfterValidator(_not_blank)
]
DocumentNumber = Annotated[
    str, StringConstraints(min_length=1, max_length=100), AfterValidator(_not_blank)
]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
USCC = Annotated[
    str,
    StringConstraints(min_length=18, max_length=18),
    AfterValidator(_uscc),
    Field(description="统一社会信用代码 (GB 32100-2015, upper case) / unified social credit code"),
]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 -]{3,28}[0-9]$")]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]


class Contact(BaseModel):
    """联系方式: a contact person and how to reach them (at least one item)."""

    model_config = STRICT

    name: Name | None = Field(default=None, description="联系人 / contact person")
    phone: Phone | None = Field(default=None, description="联系电话 / phone number")
    email: Email | None = Field(default=None, description="电子邮箱 / e-mail address")

    @model_validator(mode="after")
    def _not_empty(self) -> Contact:
        """A contact with nothing in it is a missing contact."""
        if self.name is None and self.phone is None and self.email is None:
            raise custom_error(
                "contact_empty",
                "联系方式至少需要联系人、电话或邮箱之一",
                "a contact needs at least one of name, phone or email",
            )
        return self


class ContactPerson(BaseModel):
    """联系人及联系电话: a named person with a phone number (both required)."""

    model_config = STRICT

    name: Name = Field(description="联系人 / contact person")
    phone: Phone = Field(description="联系电话 / phone number")
    email: Email | None = Field(default=None, description="电子邮箱 / e-mail address")


class Item(BaseModel):
    """事项: the approval item concerned."""

    model_config = STRICT

    name: Title = Field(description="事项名称 / item name")
    code: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="事项编码 / item code in the government service catalogue"
    )


class Party(BaseModel):
    """行政相对人: the licensee or the party concerned. Full ID numbers are never stored."""

    model_config = STRICT

    name: Title = Field(description="行政相对人姓名（名称） / party name")
    uscc: USCC | None = Field(
        default=None, description="统一社会信用代码；自然人无 / USCC, none for natural persons"
    )
    contact: Contact | None = Field(default=None, description="联系方式 / contact")
    address: ShortText | None = Field(default=None, description="地址 / address")


class LegalDecision(BaseModel):
    """法律文书: a penalty or handling decision (e.g. 行政处罚决定书)."""

    model_config = STRICT

    document_number: DocumentNumber = Field(description="法律文书编号 / decision document number")
    decision_date: EventDate = Field(description="作出决定日期 / date of the decision")
    published_date: EventDate | None = Field(
        default=None, description="公布日期（冠县从公布起算） / publication date, if published"
    )

    @model_validator(mode="after")
    def _published_after_decision(self) -> LegalDecision:
        """Publication cannot precede the decision."""
        if self.published_date is not None and self.published_date < self.decision_date:
            raise custom_error(
                "date_order",
                "公布日期不能早于决定日期",
                "published_date must not be before decision_date",
                field="published_date",
            )
        return self
