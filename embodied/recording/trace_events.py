"""The documented schema of ``trace.jsonl`` events (JSON Schema, draft 2020-12).

Every line is one event: ``i`` (sequence number), ``t`` (seconds since the episode started),
``frame`` (index of the video frame shown when it happened), ``kind`` and the kind's fields.
``docs/trace.md`` describes the kinds in prose; ``tests/embodied/recording/test_trace_events.py`` validates
real episodes against this schema.
"""

from __future__ import annotations

from typing import Any

_ATOM = {"type": "array", "items": {"type": "string"}, "minItems": 1}
_CALL_ARGS = {"type": "object"}


def _kind(name: str, required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "if": {"properties": {"kind": {"const": name}}},
        "then": {"required": list(required), "properties": {**required, **(optional or {})}},
    }


TRACE_EVENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "embodied trace event",
    "type": "object",
    "required": ["i", "t", "frame", "kind"],
    "properties": {
        "i": {"type": "integer", "minimum": 0},
        "t": {"type": "number", "minimum": 0},
        "frame": {"type": "integer", "minimum": 0},
        "kind": {
            "enum": [
                "episode_start",
                "observation",
                "context",
                "decision",
                "planner_error",
                "memory_query",
                "memory_recall",
                "memory_error",
                "memory_update",
                "tool_call",
                "tool_result",
                "verification",
                "reflection",
                "perturbation",
                "episode_end",
                "ground_truth",
            ]
        },
        "turn": {"type": "integer", "minimum": 0},
    },
    "allOf": [
        _kind("episode_start", {"instruction": {"type": "string"}, "planner": {"type": "string"}}),
        _kind("observation", {"turn": {"type": "integer"}, "text": {"type": "string"}}),
        _kind("context", {"turn": {"type": "integer"}, "context": {"type": "object", "required": ["goal"]}}),
        _kind(
            "decision",
            {
                "turn": {"type": "integer"},
                "decision": {
                    "type": "object",
                    "required": ["thoughts", "subgoals", "tool_calls", "done"],
                    "properties": {
                        "thoughts": {"type": "string"},
                        "tool_calls": {
                            "type": "array",
                            "items": {"type": "object", "required": ["name", "arguments"]},
                        },
                        "done": {"type": "boolean"},
                        "goal_atoms": {"type": "array", "items": _ATOM},
                    },
                },
            },
        ),
        _kind("planner_error", {"turn": {"type": "integer"}, "error": {"type": "string"}}),
        _kind("memory_query", {"turn": {"type": "integer"}, "query": {"type": "string"}}),
        _kind(
            "memory_recall",
            {
                "turn": {"type": "integer"},
                "query": {"type": "string"},
                "skills": {"type": "array", "items": {"type": "string"}},
                "hits": {"type": "array", "items": {"type": "string"}},
            },
        ),
        _kind("memory_error", {"turn": {"type": "integer"}, "error": {"type": "string"}}),
        _kind(
            "memory_update",
            {"skills_used": {"type": "object"}},
            {
                "subgoal_skills": {
                    "type": "array",
                    "items": {"type": "object", "required": ["skill", "created", "subgoal"]},
                }
            },
        ),
        _kind("tool_call", {"turn": {"type": "integer"}, "name": {"type": "string"}, "arguments": _CALL_ARGS}),
        _kind(
            "tool_result",
            {
                "turn": {"type": "integer"},
                "name": {"type": "string"},
                "success": {"type": "boolean"},
                "message": {"type": "string"},
                "steps": {"type": "integer", "minimum": 0},
            },
        ),
        _kind(
            "verification", {"turn": {"type": "integer"}, "subgoal": {"type": "string"}, "holds": {"type": "boolean"}}
        ),
        _kind("reflection", {"turn": {"type": "integer"}, "text": {"type": "string"}}),
        _kind("perturbation", {"type": {"enum": ["knock_off", "move_target"]}, "object": {"type": "string"}}),
        _kind(
            "episode_end",
            {
                "success": {"type": "boolean"},
                "verified": {"type": "boolean"},
                "reason": {"type": "string"},
                "turns": {"type": "integer"},
                "skill_calls": {"type": "integer"},
                "interrupted": {"type": "boolean"},
            },
        ),
        _kind(
            "ground_truth",
            {
                "success": {"type": "boolean"},
                "claimed_done": {"type": "boolean"},
                "false_success": {"type": "boolean"},
                "missed_success": {"type": "boolean"},
            },
            {"rejected": {"type": "array", "items": {"type": "string"}}},
        ),
    ],
}
