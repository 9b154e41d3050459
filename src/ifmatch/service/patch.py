"""JSON Merge Patch and JSON Patch, as the service applies them: :mod:`ifmatch.patch`.

The algorithms are pure and shared with the client, so they live in the
neutral :mod:`ifmatch.patch`; this module keeps the service's import path.
"""

from ifmatch.patch import (
    JSON,
    MEDIA_JSON_PATCH,
    MEDIA_MERGE_PATCH,
    MalformedPatch,
    PatchConflict,
    PatchError,
    PatchTooLarge,
    apply_json_patch,
    json_equal,
    merge_patch,
    parse_pointer,
    validate_json_patch,
)

__all__ = [
    "JSON",
    "MEDIA_JSON_PATCH",
    "MEDIA_MERGE_PATCH",
    "MalformedPatch",
    "PatchConflict",
    "PatchError",
    "PatchTooLarge",
    "apply_json_patch",
    "json_equal",
    "merge_patch",
    "parse_pointer",
    "validate_json_patch",
]
