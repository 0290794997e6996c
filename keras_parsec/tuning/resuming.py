"""Resuming a saved search: the checks that refuse a project it cannot continue, in one wording.

A search resumes only with the space, data and run settings it was saved with;
otherwise the error names the argument and the three ways out: resume with the
saved value, start a new project, or pass `overwrite=True`.
"""

from keras_parsec import errors

_NEW_PROJECT = "another project_name for a new search, or overwrite=True to replace the old one"
_REPLACE = "choose another project_name, or pass overwrite=True to replace it"


def check_same_as_saved(name, saved, current, project_dir, how_to_resume=None):
    """Raises unless `current` equals the `saved` value of the search being resumed.

    Args:
        name: the argument, as the caller spells it.
        saved: its value in the saved search.
        current: its value now.
        project_dir: the folder the search is saved in.
        how_to_resume: the fix that resumes; default "pass name=saved to resume it".

    Raises:
        InvalidArgumentError: when the two differ.
    """
    if current == saved:
        return
    resume = how_to_resume or f"pass {name}={saved!r} to resume it"
    raise errors.invalid_argument(
        name, f"{saved!r} as in the search saved in {project_dir}", current, f"{resume}, {_NEW_PROJECT}"
    )


def unusable_project(name, expected, received, why=None):
    """The error for a project folder whose state cannot be resumed at all (foreign or corrupt).

    Args:
        name: the argument that chose the folder (`"project_name"`, `"directory"`).
        expected: what a resumable folder holds.
        received: what was found.
        why: optional reason, said before the fix.

    Returns:
        An `InvalidArgumentError`, to be raised by the caller.
    """
    fix = f"{why}: move the folder away, {_REPLACE}" if why else _REPLACE
    return errors.invalid_argument(name, expected, received, fix)
