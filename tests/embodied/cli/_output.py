"""Checking what a command printed, whatever rich's line wrapping and the frame of Click's error panel."""

from __future__ import annotations


def says(output: str, message: str) -> bool:
    """Whether ``output`` holds ``message``, ignoring whitespace and the error panel's box characters."""

    def squash(text: str) -> str:
        return "".join(text.translate(str.maketrans("", "", "│╭╮╰╯─")).split())

    return squash(message) in squash(output)
