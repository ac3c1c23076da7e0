"""Known-answer questions for ``quality`` checks, and their deterministic scoring.

A quality check asks a short question with one unambiguous answer (arithmetic, a capital, an exact output
format), at temperature 0 where the model allows it, and scores the answer 0-100 without any judgement call:
100 when the normalized answer is the expected one, 50 when it says the expected answer among other words, 0
otherwise. The questions rotate, one per check. A wrong answer is a quality signal (``llm_quality_score_recent``,
``LLMQualityScoreLow``), never an availability failure. The config's ``quality_questions`` replaces this set.
"""

from __future__ import annotations

import dataclasses
import re


@dataclasses.dataclass(frozen=True, slots=True)
class Question:
    prompt: str
    answer: str


BUILT_IN: tuple[Question, ...] = (
    Question("What is 17 + 25? Reply with the number only.", "42"),
    Question("What is the capital of France? Reply with one word.", "Paris"),
    Question("Reply with exactly OK in capital letters and nothing else.", "OK"),
    Question("What is 9 times 7? Reply with the number only.", "63"),
    Question("Write the word cat backwards, in lowercase, and nothing else.", "tac"),
    Question("Which is larger, 0.9 or 0.11? Reply with the number only.", "0.9"),
)

_EDGES = re.compile(r"^[\s\"'`*_.!,:;()\[\]]+|[\s\"'`*_.!,:;()\[\]]+$")


def normalize(text: str) -> str:
    """Trimmed of whitespace, quotes, markdown emphasis and end punctuation; case folded."""
    return _EDGES.sub("", text).casefold()


def score(answer: str | None, expected: str) -> int:
    """100: the answer is the expected one (normalized); 50: it contains it as a word among others; else 0."""
    if not answer:
        return 0
    got, want = normalize(answer), normalize(expected)
    if got == want:
        return 100
    if re.search(rf"(?<![\w.]){re.escape(want)}(?![\w]|\.\d)", got):
        return 50
    return 0


def answer_for(prompt: str) -> str | None:
    """The built-in answer of a built-in question, the vision question's included (the simulator answers with
    it), else None."""
    return next((q.answer for q in (*BUILT_IN, VISION_QUESTION) if q.prompt == prompt), None)


#: The function of ``tools`` checks: the model must call it, with arguments that parse to {"city": "Paris"}.
TOOL_NAME = "get_weather"
TOOL_DESCRIPTION = "Get the current weather in a city."
TOOL_PARAMETERS = {"type": "object", "properties": {"city": {"type": "string", "description": "The city name"}}, "required": ["city"]}
TOOL_PROMPT = "What is the weather in Paris right now? Use the get_weather tool."
TOOL_ARGUMENTS = {"city": "Paris"}


def judge_tool_call(name: str | None, arguments: object) -> str | None:
    """None when the call is the expected one; else what is wrong with it. ``arguments``: a JSON text (OpenAI,
    Cohere) or an object (Anthropic, Gemini)."""
    import json

    if name is None:
        return "the reply has no tool call"
    if name != TOOL_NAME:
        return f"the model called {name!r}, not {TOOL_NAME!r}"
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError as exc:
            return f"the tool call's arguments don't parse as JSON: {exc}"
    if not isinstance(arguments, dict) or not isinstance(arguments.get("city"), str) or not arguments["city"]:
        return f"the tool call's arguments lack the required city: {str(arguments)[:80]}"
    return None


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, built here so no binary file ships: a few hundred bytes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


#: The image of ``vision`` checks (32x32, solid red) and its question; the answer is scored like a quality check.
VISION_IMAGE = _png(32, 32, (220, 20, 30))
VISION_MEDIA_TYPE = "image/png"
VISION_QUESTION = Question("What colour is this image? Reply with one word.", "red")
