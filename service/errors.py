"""One way to say what is wrong with a request or a setting: ``field: message; ...``."""

from __future__ import annotations

from collections.abc import Iterable


def error_items(errors: Iterable[dict]) -> list[dict]:
    """pydantic's errors without the input echoed back: where (``loc``), what (``msg``), ``type``."""
    items = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        items.append({"loc": loc, "msg": msg, "type": err.get("type", "invalid")})
    return items


def error_message(errors: Iterable[dict], whole: str | None = "body") -> str:
    """``question: question must not be empty or blank; top_k: ...``. An error about the whole
    input (no field) is named ``whole``, or given alone when ``whole`` is None."""
    parts = []
    for item in error_items(errors):
        where = ".".join(item["loc"]) or whole
        parts.append(f"{where}: {item['msg']}" if where else item["msg"])
    return "; ".join(parts)
