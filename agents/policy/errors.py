"""The hook API's error, importable without torch (command lines report it in one line)."""


class HookError(ValueError):
    """An unknown hook name or a patch that does not fit its activation."""
