"""kmstui.authz as a package: what `import kmstui.authz` alone gives a library user."""

from __future__ import annotations

import subprocess
import sys


def test_submodules_the_docstring_names_are_reachable_after_importing_only_the_package():
    # The package docstring writes kmstui.authz.org.Organization.from_dict, kmstui.authz.scenarios.load,
    # kmstui.authz.engine.allowed_under, ...; they must work after a plain `import kmstui.authz`, in a fresh
    # interpreter (this test process has imported the submodules already), and unknown names stay unknown.
    code = (
        "import kmstui.authz as a\n"
        "assert callable(a.org.Organization.from_dict)\n"
        "assert callable(a.scenarios.load) and callable(a.replay.iter_requests)\n"
        "assert callable(a.engine.allowed_under) and callable(a.local.install)\n"
        "assert not hasattr(a, 'no_such_module') and not hasattr(a, '__wrapped__')\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "ok\n", r.stderr
