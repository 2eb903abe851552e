import os
import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def state_folder():
    """A state folder of the test's own for `itb up`."""
    state = Path(tempfile.mkdtemp(prefix="itb-stack-"))
    state.chmod(0o755)  # PostgreSQL runs as 'nobody' when the tests run as root
    yield state
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def environment():
    return dict(os.environ)
