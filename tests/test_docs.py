"""Every Python snippet of the README and of the guides in docs/ runs as written, in a fresh process.

A file's ```python blocks run in order in one interpreter (later blocks use
earlier names), in an empty folder, as a reader pasting them would run them.
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(path):
    return PYTHON_BLOCK.findall(path.read_text())


def test_every_guide_has_python_to_run_and_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text()
    for path in DOCUMENTS:
        assert python_blocks(path), path.name
        if path.parent.name == "docs":
            assert f"docs/{path.name}" in readme, path.name


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.name)
def test_the_snippets_run_as_written(path, tmp_path):
    script = tmp_path / "snippets.py"
    script.write_text("\n\n".join(python_blocks(path)))
    env = dict(
        os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, f"{path.name}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
