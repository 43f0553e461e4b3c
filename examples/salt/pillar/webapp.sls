webapp:
  name: webapp
  image: registry.example.com/team/webapp
  env: prod          # dev / qa / prod: which tag this minion follows
  port: 8080

# Registry credentials, in the layout of Salt's docker module. Never shown in state output.
# docker-registries:
#   registry.example.com:
#     username: deploy
#     password: secret
