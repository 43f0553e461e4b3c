"""salt-call against a masterless minion in a temp dir: the state file of the app under test,
its pillar, and the docker_deploy state's result from salt-call's JSON output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SALT_CALL = Path(sys.executable).parent / "salt-call"

STATE = """\
{name}:
  docker_deploy.deployed:
    - image: {image}
    - tag: {{{{ pillar['env_tag'] }}}}
    - port_bindings: ["127.0.0.1:{port}:80"]
    - environment: {{APP_ENV: {{{{ pillar['env_tag'] }}}}}}
    - restart_policy: unless-stopped
    - shutdown_timeout: 5
    - labels: {{{label_key}: "{label_value}"}}
{extra}"""


class SaltCall:
    """A masterless minion in a temp dir: file_roots with the app's state, pillar with its tag."""

    def __init__(self, root: Path, app):
        self.root, self.app = root, app
        for sub in ("states", "pillar", "conf"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "conf" / "minion").write_text(
            f"id: dd-test\nroot_dir: {root}/run\nfile_client: local\n"
            f"file_roots: {{base: [{root}/states]}}\npillar_roots: {{base: [{root}/pillar]}}\n"
            f"log_file: {root}/minion.log\n"
        )
        (root / "pillar" / "top.sls").write_text("base:\n  '*': [app]\n")
        (root / "pillar" / "app.sls").write_text("env_tag: prod\n")

    def write_state(self, extra: str = "") -> None:
        label_key, label_value = next(iter(self.app.bed.labels.items()))
        (self.root / "states" / "app.sls").write_text(
            STATE.format(
                name=self.app.name,
                image=f"{self.app.registry.host}/{self.app.repo}",
                port=self.app.port,
                label_key=label_key,
                label_value=label_value,
                extra=extra,
            )
        )

    def command(self, test: bool = False) -> list[str]:
        cmd = [str(SALT_CALL), "--local", "-c", str(self.root / "conf"), "--out=json"]
        return cmd + ["state.apply", "app"] + (["test=True"] if test else [])

    @staticmethod
    def result(proc) -> dict:
        """The docker_deploy state's result from a finished salt-call's JSON output."""
        try:
            states = json.loads(proc.stdout)["local"]
        except (ValueError, KeyError) as err:
            raise AssertionError(f"salt-call failed: {proc.stdout}\n{proc.stderr}") from err
        (result,) = [v for k, v in states.items() if k.startswith("docker_deploy_|-")]
        return result

    def apply(self, test: bool = False) -> dict:
        cmd = self.command(test)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        return self.result(proc)
