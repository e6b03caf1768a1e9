"""OpenAPI 3.1 description of the aggregate worker's HTTP API."""

from __future__ import annotations

from typing import Any

from shared.contracts import View

VIEWS = [v.value for v in View]

_TOTAL_SCHEMA = {
    "type": "object",
    "properties": {
        "view": {"type": "string", "enum": VIEWS},
        "unit": {"type": "string", "description": "Unit id (code, or code@start for units reusing a code)."},
        "province_code": {"type": "string"},
        "current_code": {"type": "string", "description": "The post-merger province it rolls up to."},
        "indicator": {"type": "string"},
        "year": {"type": "integer"},
        "quarter": {
            "type": "integer",
            "minimum": 1,
            "maximum": 5,
            "description": "1-4, or 5 for Q4+: January of the next year, for plan years that run 13 months.",
        },
        "period": {"type": "string", "enum": ["Q1", "Q2", "Q3", "Q4", "Q4+"]},
        "value": {"type": "string", "description": "The quarter's own value, exact decimal, base unit."},
        "ytd": {"type": "string", "description": "Year-to-date value at the quarter's end, exact decimal."},
        "base_unit": {"type": "string"},
        "events": {"type": "integer"},
        "last_as_of": {"type": ["string", "null"], "format": "date-time"},
        "updated_at": {"type": ["string", "null"], "format": "date-time"},
        "sources": {"type": "array", "items": {"type": "string"}},
        "anchored": {
            "type": "boolean",
            "description": "The ytd rests on a year-to-date reading (it covers the year since 1 January by itself).",
        },
    },
}
_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "tiendo aggregate API", "version": "1", "description": "Quarterly totals per province."},
    "paths": {
        "/totals": {
            "get": {
                "summary": "Quarter totals, filtered",
                "parameters": [
                    {"name": "province", "in": "query", "schema": {"type": "string"}, "description": "Any spelling."},
                    {"name": "indicator", "in": "query", "schema": {"type": "string"}},
                    {"name": "year", "in": "query", "schema": {"type": "integer", "minimum": 2000, "maximum": 2999}},
                    {"name": "quarter", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 5}},
                    {
                        "name": "view",
                        "in": "query",
                        "schema": {"type": "string", "enum": VIEWS, "default": View.UNIT.value},
                        "description": "unit: units as they were; current: rolled up into post-merger provinces.",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "Totals",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "totals": {"type": "array", "items": _TOTAL_SCHEMA},
                                        "count": {"type": "integer"},
                                    },
                                }
                            }
                        },
                    },
                    "400": {"description": "Bad parameter", "content": {"application/json": {"schema": _ERROR}}},
                },
            }
        },
        "/health": {
            "get": {
                "summary": "Ready after table recovery",
                "responses": {"200": {"description": "Ready"}, "503": {"description": "Starting or recovering"}},
            }
        },
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Metrics"}}}},
    },
}
