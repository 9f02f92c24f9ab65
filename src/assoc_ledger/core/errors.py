"""One error format for the whole service: RFC 9457 problem+json, Chinese messages for users.

Domain code raises :class:`DomainError` or one of its kinds (400 malformed, 404, 409 conflict,
422 business rule); validation failures of request bodies, parameters and uploads become 400.
Every refusal names each bad field (and file row) in ``errors``.
Anything unexpected becomes a 500 problem (and is a bug).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException, ValidationException
from litestar.response import Redirect
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

log = logging.getLogger("assoc_ledger")

PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: the field at fault, why (Chinese), and the row of a file if any."""

    field: str
    message: str
    row: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.row is not None:
            out["row"] = self.row
        return out


class DomainError(Exception):
    """The one refusal type of every area: RFC 9457 problem+json with every :class:`Problem` listed.

    The class says which kind of refusal it is: :class:`Invalid` (400) for a request that is malformed
    in itself, :class:`NotFound` (404), :class:`Conflict` (409) with what already exists, and this base
    class (422) for a well-formed request that a business rule refuses. Nothing is written on any of them.
    """

    status_code = 422
    title = "无法处理"
    type_ = "about:blank"

    def __init__(self, detail: str | None = None, *, field: str | None = None, row: int | None = None,
                 problems: Iterable[Problem] = (), status_code: int | None = None,
                 extra: dict[str, Any] | None = None, title: str | None = None) -> None:
        listed = list(problems)
        if not listed and detail is not None and (field is not None or row is not None):
            listed = [Problem(field or "", detail, row)]
        if detail is None:
            detail = "；".join(p.message for p in listed) or self.title
        super().__init__(detail)
        self.detail = detail
        self.problems: tuple[Problem, ...] = tuple(listed)
        self.field = field if field is not None else (listed[0].field if len(listed) == 1 else None)
        if status_code is not None:
            self.status_code = status_code
        if title is not None:
            self.title = title
        self.extra = extra or {}

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [p.as_dict() for p in self.problems]


class Invalid(DomainError):
    """A malformed request: a missing or badly shaped field, a file that is not what it claims (400)."""

    status_code = 400
    title = "请求无效"


class NotFound(DomainError):
    status_code = 404
    title = "未找到"


class Conflict(DomainError):
    """The request clashes with what exists: a duplicate, a stale edit, a reused idempotency key (409)."""

    status_code = 409
    title = "与现有记录冲突"


class TooLarge(DomainError):
    status_code = 413
    title = "上传内容过大"


class UnsupportedMedia(DomainError):
    status_code = 415
    title = "不支持的文件类型"


class Problems:
    """Collects every problem of a request before refusing it, so the user sees them all at once."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, field: str, message: str, row: int | None = None) -> None:
        self.items.append(Problem(field, message, row))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, kind: type[DomainError] = DomainError) -> None:
        if self.items:
            raise kind(problems=self.items)


def problem(status: int, title: str, detail: str, **extra: Any) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"type": extra.pop("type", "about:blank"), "title": title, "status": status,
                            "detail": detail}
    body.update(extra)
    headers = extra.pop("headers", None) if "headers" in extra else None
    return Response(body, status_code=status, media_type=PROBLEM, headers=headers)


_PYDANTIC_ZH = {
    "missing": "必填字段缺失",
    "string_type": "应为字符串",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "bool_type": "应为布尔值",
    "bool_parsing": "应为布尔值",
    "date_type": "应为日期（YYYY-MM-DD）",
    "date_parsing": "日期格式无效，应为 YYYY-MM-DD",
    "date_from_datetime_parsing": "日期格式无效，应为 YYYY-MM-DD",
    "string_too_short": "内容过短",
    "string_too_long": "内容过长",
    "string_pattern_mismatch": "格式不正确",
    "greater_than": "数值过小",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "less_than": "数值过大",
    "enum": "取值不在允许范围内",
    "literal_error": "取值不在允许范围内",
    "extra_forbidden": "不允许的字段",
    "model_type": "应为对象",
    "list_type": "应为列表",
    "json_invalid": "JSON 格式无效",
    "value_error": "取值无效",
}


def _field_name(loc: Any) -> str:
    if isinstance(loc, (list, tuple)):
        return ".".join(str(p) for p in loc if p not in ("body",))
    return str(loc)


def message_zh(kind: str, raw: str = "") -> str:
    """The Chinese message for one pydantic error (its ``type`` and raw ``msg``)."""
    message = _PYDANTIC_ZH.get(kind)
    if message is None:
        # Our own validators raise ValueError with Chinese text; pydantic prefixes it.
        message = raw.removeprefix("Value error, ") if raw else "取值无效"
    return message


def _validation_handler(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    errors: list[dict[str, str]] = []
    extra = exc.extra
    items = extra if isinstance(extra, list) else []
    for item in items:
        if not isinstance(item, dict):
            continue
        key = item.get("key") or _field_name(item.get("loc", ""))
        raw = str(item.get("message", ""))
        kind = str(item.get("type", ""))
        message = message_zh(kind, raw)
        errors.append({"field": str(key), "message": message, "source": str(item.get("source", "body"))})
    if not errors:
        errors.append({"field": "", "message": str(exc.detail)})
    return problem(400, "请求参数有误", "输入有误：" + "；".join(f"{e['field']}：{e['message']}" for e in errors),
                   errors=errors)


def _domain_handler(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    extra: dict[str, Any] = dict(exc.extra)
    if exc.problems:
        extra.setdefault("errors", exc.errors)
    return problem(exc.status_code, exc.title, exc.detail, type=exc.type_, **extra)


_HTTP_TITLES = {
    400: "请求无效", 401: "需要登录", 403: "没有权限", 404: "未找到", 405: "不支持的请求方法",
    409: "冲突", 413: "上传内容过大", 415: "不支持的内容类型", 429: "请求过于频繁",
}


def _http_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, NotAuthorizedException) and _is_page(request):
        return Redirect("/login", status_code=303)
    if isinstance(exc, NotAuthorizedException):
        status = 401
    elif isinstance(exc, PermissionDeniedException):
        status = 403
    title = _HTTP_TITLES.get(status, "请求失败")
    detail = exc.detail if exc.detail and not exc.detail.startswith(("Not Found", "Internal")) else title
    resp = problem(status, title, detail)
    if exc.headers:
        resp.headers.update(exc.headers)
    return resp


def _integrity_handler(_: Request[Any, Any, Any], exc: IntegrityError) -> Response[dict[str, Any]]:
    # A uniqueness race the service's own checks could not see (two identical requests at once).
    log.info("integrity error answered as 409: %s", exc.orig)
    return problem(409, "与现有记录冲突", "与现有记录冲突（可能是重复提交），未写入任何数据")


def _is_page(request: Request[Any, Any, Any]) -> bool:
    path = request.url.path
    return not path.startswith(("/api/", "/schema", "/static/")) and request.method in ("GET", "HEAD")


def _stale_handler(_: Request[Any, Any, Any], exc: StaleDataError) -> Response[dict[str, Any]]:
    # Optimistic concurrency: someone else changed the record between our read and our write.
    log.info("stale update answered as 409: %s", exc)
    return problem(409, "记录已被他人修改", "该记录已被他人修改，请刷新后重试；本次修改未保存")


def _internal_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "服务器内部错误", "服务器内部错误，已记录，请联系管理员")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    ValidationException: _validation_handler,
    DomainError: _domain_handler,
    HTTPException: _http_handler,
    IntegrityError: _integrity_handler,
    StaleDataError: _stale_handler,
    Exception: _internal_handler,
}
