"""The HTTPS front (FRONT=https) through the real `docker compose config`, and
its nginx site from the front role's template (shared by compose and Ansible)."""
import subprocess

import jinja2
import pytest
import yaml

from churnlab.compose.stack import Stack
from churnlab.core import catalog
from churnlab.core import secrets as lab_secrets
from churnlab.core.paths import ROOT
from tests.helpers import at_once

ROLE = ROOT / "ansible" / "roles" / "front"


@pytest.fixture(scope="module", autouse=True)
def secrets_exist():
    lab_secrets.ensure()
    lab_secrets.ensure_front_tls()


def test_front_https_adds_the_front_with_its_secrets_on_loopback_only():
    cfg = Stack(catalog.Selection.of("gthread", "default"), front="https", https_port=18443).config()
    services = cfg["services"]
    front = services["front"]
    assert front["image"] == "churnlab/front:bookworm"
    assert [(p["host_ip"], p["published"], p["target"]) for p in front["ports"]] == [("127.0.0.1", "18443", 8443)]
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", (name, port)
    assert {s["source"] for s in front["secrets"]} == {"front_cert", "front_key"}
    assert cfg["secrets"]["front_key"]["environment"] == "CHURNLAB_SECRET_FRONT_KEY"
    assert not any(k.startswith("CHURNLAB_SECRET") for k in front["environment"])
    assert front["environment"]["FRONT_UPSTREAM_KEEPALIVE"] == "0"  # a plain proxy_pass unless asked
    assert front["depends_on"]["app"]["condition"] == "service_healthy"
    assert front["healthcheck"]["test"]
    assert "user" not in front  # the image's own non-root user


def test_without_a_front_there_is_no_front_service():
    cfg = Stack(catalog.Selection.of("gthread", "default")).config()
    assert "front" not in cfg["services"] and "front_key" not in cfg.get("secrets", {})


@pytest.mark.parametrize("keepalive", [0, 32])
def test_the_role_template_renders_upstream_keepalive_only_when_asked(keepalive):
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROLE / "templates")),
                             undefined=jinja2.StrictUndefined, trim_blocks=True)
    text = env.get_template("front.conf.j2").render(
        **{**defaults, "front_listen_addresses": ["0.0.0.0"], "front_upstream_keepalive": keepalive,
           "front_cert_file": "/c", "front_key_file": "/k", "ansible_managed": "test"})
    assert "listen 0.0.0.0:443 ssl" in text and "proxy_pass http://churnlab_app;" in text
    assert ("keepalive 32;" in text) == bool(keepalive)
    assert ("proxy_http_version 1.1;" in text) == bool(keepalive)
    # An idle upstream connection is dropped before gunicorn's own 2 s keep-alive closes it.
    assert ("keepalive_timeout 1s;" in text) == bool(keepalive)


def test_two_commands_at_once_make_one_certificate_and_its_own_key(tmp_path):
    """Three processes ask for the front's certificate together (two `make lab-up FRONT=https` at
    once): one makes it, the others find it, and the key on disk is the certificate's own."""
    target = tmp_path / "secrets"
    made = sorted(at_once(lab_secrets.ensure_front_tls, target, processes=3), key=len)
    assert made == [[], [], list(lab_secrets.TLS_NAMES)]
    cert, key = (target / name for name in lab_secrets.TLS_NAMES)
    public = [subprocess.run(argv, capture_output=True, text=True, check=True).stdout for argv in (
        ["openssl", "x509", "-in", str(cert), "-noout", "-pubkey"], ["openssl", "pkey", "-in", str(key), "-pubout"])]
    assert public[0] == public[1] and "PUBLIC KEY" in public[0]
    assert sorted(p.name for p in target.iterdir()) == sorted(lab_secrets.TLS_NAMES)
