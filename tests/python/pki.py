"""Certificates, keys and tokens made fresh for each test (nothing with a private key is ever
committed): CAs, server and client certificates signed by them, a JWKS with its signing key,
RS256 JWTs, and API key files."""

import base64
import datetime
import hashlib
import ipaddress
import json
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key, path: pathlib.Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


class CA:
    """A certificate authority whose certificate is written to `<dir>/<name>.pem`."""

    def __init__(self, directory: pathlib.Path, name: str):
        self.dir = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(self.key, hashes.SHA256())
        )
        self.path = directory / f"{name}.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, common_name: str, server: bool = True) -> tuple:
        """A certificate for 127.0.0.1 / localhost (also usable as a client's); returns the
        paths of its certificate and key files."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        cert_path, key_path = self.dir / f"{name}.pem", self.dir / f"{name}-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, key_path)
        return cert_path, key_path


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class JwtIssuer:
    """An RSA signing key, its JWKS file, and RS256 tokens signed with it."""

    def __init__(self, directory: pathlib.Path, kid: str = "test-key"):
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.key.public_key().public_numbers()
        as_bytes = lambda n: n.to_bytes((n.bit_length() + 7) // 8, "big")  # noqa: E731
        jwks = {"keys": [{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
                          "n": _b64(as_bytes(numbers.n)), "e": _b64(as_bytes(numbers.e))}]}
        self.jwks_path = directory / "jwks.json"
        self.jwks_path.write_text(json.dumps(jwks))

    def token(self, permissions: list, subject: str = "tester", **claims) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        body = {"sub": subject, "permissions": permissions,
                "exp": int(datetime.datetime.now().timestamp()) + 3600, **claims}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(body).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"


def api_keys_file(path: pathlib.Path, keys: dict) -> pathlib.Path:
    """A keys file: {key: permissions}; only the keys' SHA-256 is written."""
    lines = []
    for i, (key, permissions) in enumerate(keys.items()):
        lines += ["[[key]]", f'name = "key-{i}"', f'sha256 = "{hashlib.sha256(key.encode()).hexdigest()}"',
                  f"permissions = {json.dumps(permissions)}", ""]
    path.write_text("\n".join(lines))
    return path


def identities_file(path: pathlib.Path, identities: dict) -> pathlib.Path:
    """An identities file: {certificate common name: permissions}."""
    lines = []
    for cn, permissions in identities.items():
        lines += ["[[identity]]", f'common_name = "{cn}"', f"permissions = {json.dumps(permissions)}", ""]
    path.write_text("\n".join(lines))
    return path
