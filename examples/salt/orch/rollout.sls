# A fleet rollout of the webapp state (../states/webapp.sls), from the master:
#
#   salt-run state.orchestrate orch.rollout
#   salt-run state.orchestrate orch.rollout pillar='{"rollout": {"tgt": "web*", "pause": 60}}'
#
# The canary first, then half the fleet at a time, each batch verified before the next; every
# minion deploys the digest the tag had when the rollout began. At the first failure (an apply
# that fails, a container that rolled back, a minion that does not answer) it stops, brings
# the minions it already updated back to their previous image, and the next step says so.
{%- set rollout = pillar.get('rollout', {}) %}

webapp rollout:
  salt.runner:
    - name: docker_deploy.rollout
    - tgt: {{ rollout.get('tgt', 'web*') | json }}
    - tgt_type: {{ rollout.get('tgt_type', 'glob') }}
    - mods: webapp
    - canary: 1
    - batch: 50%
    - pause: {{ rollout.get('pause', 30) }}
    - rollback_on_failure: True

webapp rollout stopped:
  salt.runner:
    - name: event.send
    - tag: ops/webapp/rollout-stopped
    - data:
        tgt: {{ rollout.get('tgt', 'web*') | json }}
    - onfail:
      - salt: webapp rollout
