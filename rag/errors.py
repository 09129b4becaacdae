"""The one exception type that shells turn into a one-line message and an exit code."""


class RagError(Exception):
    """A failure the user can act on: ``message`` says what happened, ``hint`` what to do."""

    def __init__(self, message: str, hint: str = "", exit_code: int = 2):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.message}. {self.hint}" if self.hint else self.message
