"""Enumerations of the canonical message (the first four were the seed of hub.message).

Import them from ``hub.message``.

Values are stable identifiers (they appear in JSON and in routing config); ``label`` gives
the Chinese name shown to operators.
"""

from __future__ import annotations

from enum import StrEnum


class MessageKind(StrEnum):
    """What a push is. Values are stable identifiers; ``label`` is the Chinese name."""

    APPROVAL_DECISION = "approval_decision"  # 审批信息
    SUPERVISION_INFO = "supervision_info"  # 监管信息
    REVOCATION_ADVICE = "revocation_advice"  # 监管建议书 (变更/撤回/撤销/注销)
    HANDLING_RESULT = "handling_result"  # 处理结果 (reply to revocation advice)
    POLICY_CHANGE = "policy_change"  # 政策调整
    MEETING_NOTICE = "meeting_notice"  # 会议/培训通知
    INQUIRY = "inquiry"  # 函询
    INQUIRY_REPLY = "inquiry_reply"  # 函询回复
    JOINT_INSPECTION_REQUEST = "joint_inspection_request"  # 联合踏勘联系单
    JOINT_INSPECTION_REPLY = "joint_inspection_reply"  # 踏勘人员名单 / 书面意见
    COMMITMENT_VERIFICATION = "commitment_verification"  # 告知承诺核查结果

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


_KIND_LABELS: dict[MessageKind, str] = {
    MessageKind.APPROVAL_DECISION: "审批信息",
    MessageKind.SUPERVISION_INFO: "监管信息",
    MessageKind.REVOCATION_ADVICE: "监管建议书",
    MessageKind.HANDLING_RESULT: "处理结果",
    MessageKind.POLICY_CHANGE: "政策调整",
    MessageKind.MEETING_NOTICE: "会议/培训通知",
    MessageKind.INQUIRY: "函询",
    MessageKind.INQUIRY_REPLY: "函询回复",
    MessageKind.JOINT_INSPECTION_REQUEST: "联合踏勘联系单",
    MessageKind.JOINT_INSPECTION_REPLY: "联合踏勘回复",
    MessageKind.COMMITMENT_VERIFICATION: "告知承诺核查",
}


class Direction(StrEnum):
    """审→管 (approval bureau to supervisors) or 管→审 (supervisors to the approval bureau)."""

    APPROVAL_TO_SUPERVISION = "approval_to_supervision"
    SUPERVISION_TO_APPROVAL = "supervision_to_approval"

    @property
    def label(self) -> str:
        return "审→管" if self is Direction.APPROVAL_TO_SUPERVISION else "管→审"


class Channel(StrEnum):
    """The four push channels (梁山县 第十七条)."""

    PLATFORM = "platform"  # 平台推送
    EMAIL = "email"  # 邮件推送 (公务安全邮箱, 非涉密 only)
    SELFBUILT = "selfbuilt"  # 系统推送 (自建业务系统)
    PAPER = "paper"  # 纸质推送 (涉密 or offline)

    @property
    def label(self) -> str:
        return {"platform": "平台", "email": "邮件", "selfbuilt": "系统", "paper": "纸质"}[
            self.value
        ]

    @property
    def is_online(self) -> bool:
        return self is not Channel.PAPER


class ClassificationLevel(StrEnum):
    """非涉密 or one of the three 涉密 levels."""

    UNCLASSIFIED = "unclassified"  # 非涉密
    SECRET = "secret"  # 秘密
    CONFIDENTIAL = "confidential"  # 机密
    TOP_SECRET = "top_secret"  # 绝密

    @property
    def is_classified(self) -> bool:
        return self is not ClassificationLevel.UNCLASSIFIED

    @property
    def label(self) -> str:
        return {
            "unclassified": "非涉密",
            "secret": "秘密",
            "confidential": "机密",
            "top_secret": "绝密",
        }[self.value]


# --- body enums -------------------------------------------------------------------------------


class _Labelled(StrEnum):
    """A string enum with a Chinese ``label``."""

    @property
    def label(self) -> str:
        return _LABELS[self.value]


class SupervisionCategory(_Labelled):
    """What a 监管信息 reports (周村 第七条(二), 梁山 第十九条(三))."""

    SUSPENSION = "suspension"  # 责令停产停业
    LICENCE_REVOKED = "licence_revoked"  # 吊销许可证件
    OTHER_PENALTY = "other_penalty"  # 其他影响许可的行政处罚
    ABNORMAL_OPERATION = "abnormal_operation"  # 经营异常
    DISHONEST_LIST = "dishonest_list"  # 失信名单
    TRAINING = "training"  # 业务培训
    REGULATION_CHANGE = "regulation_change"  # 法规标准调整

    @property
    def concerns_party(self) -> bool:
        """True when the information is about one party (needs party and decision)."""
        return self not in (SupervisionCategory.TRAINING, SupervisionCategory.REGULATION_CHANGE)


class LicenceAction(_Labelled):
    """What a 监管建议书 asks the approval bureau to do with a licence."""

    CHANGE = "change"  # 变更
    WITHDRAW = "withdraw"  # 撤回
    REVOKE = "revoke"  # 撤销
    CANCEL = "cancel"  # 注销


class HandlingAction(_Labelled):
    """What the approval bureau did about a 监管建议书."""

    CHANGE = "change"
    WITHDRAW = "withdraw"
    REVOKE = "revoke"
    CANCEL = "cancel"
    NO_ACTION = "no_action"  # 不予处理


class PolicyChangeType(_Labelled):
    """What changed (梁山 第十九条(五), 周村 第七条(二)2)."""

    LAW = "law"  # 法律
    REGULATION = "regulation"  # 法规、规章
    STANDARD = "standard"  # 技术标准
    POLICY = "policy"  # 政策
    MANAGEMENT_NORM = "management_norm"  # 管理规范


class NoticeType(_Labelled):
    """会议、业务培训、检查考评、资质考试 (梁山 第十九条(六))."""

    MEETING = "meeting"
    TRAINING = "training"
    INSPECTION_ASSESSMENT = "inspection_assessment"
    QUALIFICATION_EXAM = "qualification_exam"


class VerificationMode(_Labelled):
    """How a 告知承诺 is verified."""

    POST_CHECK = "post_check"  # 事后核查
    MATERIAL_DELAY = "material_delay"  # 材料延期（容缺后补）
    MATERIAL_CHECK = "material_check"  # 材料核验


class VerificationResult(_Labelled):
    """Outcome of a 告知承诺 verification."""

    PENDING = "pending"  # 待核查
    FULFILLED = "fulfilled"  # 属实
    UNTRUE = "untrue"  # 承诺不实
    OVERDUE = "overdue"  # 逾期未补交


_LABELS: dict[str, str] = {
    "suspension": "责令停产停业",
    "licence_revoked": "吊销许可证件",
    "other_penalty": "其他影响许可的行政处罚",
    "abnormal_operation": "经营异常",
    "dishonest_list": "失信名单",
    "training": "业务培训",
    "regulation_change": "法规标准调整",
    "change": "变更",
    "withdraw": "撤回",
    "revoke": "撤销",
    "cancel": "注销",
    "no_action": "不予处理",
    "law": "法律",
    "regulation": "法规规章",
    "standard": "技术标准",
    "policy": "政策",
    "management_norm": "管理规范",
    "meeting": "会议",
    "inspection_assessment": "检查考评",
    "qualification_exam": "资质考试",
    "post_check": "事后核查",
    "material_delay": "材料延期",
    "material_check": "材料核验",
    "pending": "待核查",
    "fulfilled": "属实",
    "untrue": "承诺不实",
    "overdue": "逾期未补交",
}
# "training" is both a SupervisionCategory and a NoticeType; both read 业务培训.
