"""The Open311 service list: the petition categories of TAXONOMY.md as service codes.

A service's ``group`` is the department that leads on its matters (TAXONOMY's lead function),
as Open311 groups are usually departments. Every service is ``batch``: the answer to a POST is
a token, because a petition becomes a case asynchronously (intake registers it, tracking opens
the case). The service definitions ask for what an online petition needs beyond the core
Open311 fields (ARCHITECTURE §4: an online grievance needs the petitioner's address; a
suggestion or an accusation may be anonymous).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.vocabulary import CATEGORIES

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When the service list or the definitions last changed (clients refresh their caches).
CHANGESET = "2026-11-28T00:00:00+08:00"


@dataclass(frozen=True)
class Service:
    code: str
    name: str
    group: str
    keywords: str
    kind: str  # the petition kind an Open311 request of this service becomes

    @property
    def description(self) -> str:
        what = {"grievance": "求决", "suggestion": "建议", "accusation": "检举控告"}[self.kind]
        return f"{self.name}（{what}类信访事项，由{self.group}部门牵头办理）"


def _s(code: str, name: str, group: str, keywords: str, kind: str = "grievance") -> Service:
    return Service(code, name, group, keywords, kind)


SERVICES: dict[str, Service] = {
    s.code: s
    for s in (
        _s("wage_arrears", "拖欠工资", "人力资源和社会保障", "欠薪, 讨薪, 农民工工资"),
        _s("labour_dispute", "劳动关系与工伤", "人力资源和社会保障", "劳动合同, 工伤, 辞退"),
        _s("social_insurance", "社会保险", "人力资源和社会保障", "社保, 养老保险, 失业保险"),
        _s("housing_quality", "房屋质量与安置住房", "住房和城乡建设", "房屋质量, 漏水, 安置房"),
        _s("property_management", "物业管理", "住房和城乡建设", "物业, 物业费, 维修基金"),
        _s("land_acquisition", "征地拆迁与补偿", "自然资源", "征地, 拆迁, 补偿款"),
        _s("rural_land", "农村土地与宅基地", "农业农村", "宅基地, 土地承包, 流转"),
        _s("agriculture", "农业生产与养殖", "农业农村", "种植, 养殖, 农资"),
        _s("pollution", "环境污染", "生态环境", "污水, 废气, 噪音, 垃圾"),
        _s("urban_order", "违法建设与市容秩序", "城市管理", "违建, 占道经营, 市容"),
        _s("transport", "道路交通与公共交通", "交通运输", "道路, 公交, 出租车"),
        _s("health", "医疗卫生与疫情防控", "卫生健康", "医疗纠纷, 医院, 防疫"),
        _s("education", "教育", "教育", "入学, 学校收费, 教师"),
        _s("social_assistance", "社会救助与养老", "民政", "低保, 养老院, 救助"),
        _s("consumer", "食品安全与消费维权", "市场监督管理", "食品安全, 消费纠纷, 价格"),
        _s("safety_hazard", "安全隐患", "应急管理", "安全隐患, 消防, 事故"),
        _s("public_order", "治安与户籍", "公安", "治安, 户口, 户籍"),
        _s("government_arrears", "政府欠款与补贴", "财政", "政府欠款, 补贴, 工程款"),
        _s("veterans", "退役军人", "退役军人事务", "退役军人, 安置, 优抚"),
        _s("water", "水利与供水", "水利", "供水, 灌溉, 防汛"),
        _s("misconduct", "干部作风与违纪违法", "纪检监察", "违纪, 腐败, 作风", "accusation"),
        _s("litigation", "涉法涉诉", "政法", "判决执行, 再审, 仲裁"),
        _s("policy", "政策建议", "综合", "建议, 意见, 政策", "suggestion"),
        _s("other", "其他", "综合", "其他, 咨询"),
    )
}
assert tuple(SERVICES) == CATEGORIES  # one service per category, in the vocabulary's order

PETITIONER_ADDRESS = "petitioner_address"
ID_NUMBER = "id_number"
ANONYMOUS = "anonymous"


def attributes(service: Service) -> list[dict[str, Any]]:
    """The service definition's attributes, in the spec's field order."""
    grievance = service.kind == "grievance"
    out: list[dict[str, Any]] = []
    if not grievance:
        out.append(
            _attribute(
                ANONYMOUS,
                "singlevaluelist",
                required=False,
                description="匿名提交：选“匿名”时不报送姓名和电话，只能凭受理编号了解进展",
                values=[{"key": "false", "name": "实名"}, {"key": "true", "name": "匿名"}],
            )
        )
    out.append(
        _attribute(
            PETITIONER_ADDRESS,
            "string",
            required=grievance,
            description="信访人住址：办理单位联系您时使用，不会公开"
            + ("（求决类事项必填）" if grievance else "（选填）"),
            datatype_description="例如：北京市石景山区鲁谷路1号",
        )
    )
    out.append(
        _attribute(
            ID_NUMBER,
            "string",
            required=False,
            description="居民身份证号码（选填）：用于识别同一信访人的重复信访，加密保存",
            datatype_description="18位，末位可为X",
        )
    )
    for order, attribute in enumerate(out, start=1):
        attribute["order"] = order
    return out


def _attribute(
    code: str,
    datatype: str,
    *,
    required: bool,
    description: str,
    datatype_description: str | None = None,
    values: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "variable": True,
        "code": code,
        "datatype": datatype,
        "required": required,
        "datatype_description": datatype_description,
        "order": 0,
        "description": description,
    }
    if values is not None:
        attribute["values"] = values
    return attribute


def service_list() -> list[dict[str, Any]]:
    return [
        {
            "service_code": s.code,
            "service_name": s.name,
            "description": s.description,
            "metadata": True,
            "type": "batch",
            "keywords": s.keywords,
            "group": s.group,
        }
        for s in SERVICES.values()
    ]


def definition(service: Service) -> dict[str, Any]:
    return {"service_code": service.code, "attributes": attributes(service)}
