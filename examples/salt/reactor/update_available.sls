#!py
# The docker_deploy beacon saw a new image of a tag that containers on a minion follow: update
# them there, through the verified path. See the README, "Continuous deployment".
from saltext.docker_deploy.reactor import update_available


def run():
    return update_available(data)  # noqa: F821 (the renderer's globals)
