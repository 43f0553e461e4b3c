#!py
# Deploy on registry push: the registry's notification, fired by the master's webhook engine,
# becomes `docker_deploy.update <registry>/<repository>:<tag>` on the targeted minions; a
# request without the shared secret, or that is no push of a tag, starts nothing. See the
# README, "Continuous deployment", and saltext/docker_deploy/reactor.py.
from saltext.docker_deploy.reactor import reactions


def run():
    return reactions(data, __opts__)  # noqa: F821 (the renderer's globals)
