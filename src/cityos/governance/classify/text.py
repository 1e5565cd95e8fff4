"""What text the classifier accepts; kept free of heavy imports so the CLI starts fast."""

from __future__ import annotations

MAX_TEXT_CHARS = 4000


class ClassifyError(ValueError):
    """A text cannot be classified (empty or too long); the message says how to fix it."""


def check_text(text: object) -> str:
    """Return the text if it can be classified, else raise ClassifyError saying why."""
    if not isinstance(text, str):
        raise ClassifyError(
            f"text must be a string, not {type(text).__name__} / text는 문자열이어야 합니다"
        )
    if not text.strip():
        raise ClassifyError("text is empty: write what is wrong / 민원 내용이 비어 있습니다")
    if len(text) > MAX_TEXT_CHARS:
        raise ClassifyError(
            f"text is {len(text)} characters; at most {MAX_TEXT_CHARS} "
            f"/ 민원 내용은 {MAX_TEXT_CHARS}자 이하여야 합니다"
        )
    return text
