"""A registry token service, the flow Docker Hub, GHCR, Harbor and GitLab use: the registry
answers 401 with a ``Bearer realm=...`` challenge, the client fetches a JWT from the realm with
its Basic credentials, and the registry (Debian's docker-registry, configured with
``auth: token``) verifies the JWT's signature against the certificate it was given.

The service runs in a thread of the test process and records every request, so that tests can
see who asked for which scope. It signs RS256 tokens with a throwaway key whose self-signed
certificate travels in the ``x5c`` header and is the registry's ``rootcertbundle``.
"""

from __future__ import annotations

import base64
import http.server
import json
import secrets
import threading
import time
import urllib.parse
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from tests.support.pki import certificate, write_pem

SERVICE = "ddtest-registry"
ISSUER = "ddtest-token-issuer"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    def __init__(self, workdir: Path, users: dict[str, str]):
        self.users = dict(users)
        self.requests: list[dict] = []  # {"user": ..., "scope": ..., "granted": bool}
        self._key, self._cert = certificate(ISSUER)
        workdir.mkdir(parents=True, exist_ok=True)
        self.cert_path = write_pem(workdir / "token-signer.pem", cert=self._cert)

        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server._answer(self)

            def log_message(self, *args):
                pass

        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self._http.server_address[1]}/token"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    def registry_auth_config(self) -> str:
        """The ``auth:`` section of the registry's config.yml."""
        return (
            "auth:\n  token:\n"
            f"    realm: {self.realm}\n"
            f"    service: {SERVICE}\n"
            f"    issuer: {ISSUER}\n"
            f"    rootcertbundle: {self.cert_path}\n"
        )

    def _user(self, header: str | None) -> str | None:
        """The user whose Basic credentials are right, else None (anonymous or wrong)."""
        if not header or not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        return user if self.users.get(user) == password else None

    def _answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlparse(handler.path)
        query = urllib.parse.parse_qs(url.query)
        scopes = query.get("scope", [])
        user = self._user(handler.headers.get("Authorization"))
        self.requests.append({"user": user, "scope": " ".join(scopes), "granted": bool(user)})
        if url.path != "/token" or query.get("service") != [SERVICE] or user is None:
            handler.send_response(401)
            handler.send_header("Content-Type", "application/json")
            handler.end_headers()
            handler.wfile.write(b'{"details": "incorrect username or password"}')
            return
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            repo, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": repo, "actions": actions.split(",")})
        body = json.dumps({"token": self._sign(user, access), "expires_in": 300}).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def issue(self, user: str, repo: str, actions: list[str]) -> str:
        """A token for the test bed's own registry calls (publishing), not recorded."""
        return self._sign(user, [{"type": "repository", "name": repo, "actions": actions}])

    def _sign(self, user: str, access: list[dict]) -> str:
        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode()],
        }
        claims = {
            "iss": ISSUER,
            "sub": user,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        parts = (_b64url(json.dumps(part).encode()) for part in (header, claims))
        signing_input = ".".join(parts)
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
