# The seed's flow (pull the environment's tag; replace the container only when its image ID
# differs; create with its configuration; start with its port bindings) as one state.
#
# The environment tag comes from pillar `webapp:env`, falling back to the `env` grain, then
# `prod`. Everything is declared here; nothing is copied from the running container.
{%- set app = pillar.get('webapp', {}) %}
{%- set env = app.get('env', grains.get('env', 'prod')) %}
{%- set name = app.get('name', 'webapp') %}

{{ name }}:
  docker_deploy.deployed:
    - image: {{ app.get('image', 'registry.example.com/team/webapp') }}
    - tag: {{ env }}
    - port_bindings:
      - "{{ app.get('bind', '0.0.0.0') }}:{{ app.get('port', 8080) }}:80"
    - environment:
        APP_ENV: {{ env }}
    - restart_policy: unless-stopped
    - shutdown_timeout: 10
{%- if app.get('labels') %}
    - labels: {{ app['labels'] | json }}
{%- endif %}
