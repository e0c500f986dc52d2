"""C2PA: manifests signed in the test with a throwaway CA (c2pa-python + cryptography), and the
no-library path, which must still see the manifest store and say how to read it."""
from __future__ import annotations

import datetime
import io

import numpy as np
import pytest
from PIL import Image

from forensics.provenance import c2pa as c2mod
from forensics.provenance import inspect_provenance

AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


def test_png_manifest_marker_without_library(mk, write, monkeypatch):
    """A hand-made caBX chunk: the walker sees the store even when c2pa-python is missing."""
    monkeypatch.setattr(c2mod, "_module", lambda: None)
    jumbf = b"\x00\x00\x00\x20jumb\x00\x00\x00\x18jumdc2pa" + b"\x00" * 12
    png = mk.insert_png_chunk(mk.png_bytes(np.zeros((16, 16, 3), np.uint8)), b"caBX", jumbf)
    r = inspect_provenance(write("m.png", png))
    assert r["unavailable"] == {"c2pa": c2mod.INSTALL_HINT}
    assert r["c2pa"] == {"present": True, "markers": ["png caBX chunk"]} and "error" not in r


def test_summary_of_minimal_store():
    store = {"active_manifest": "m", "validation_state": "Valid",
             "manifests": {"m": {"claim_generator_info": [{"name": "Image Creator"}],
                                 "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
                                     {"action": "c2pa.created", "digitalSourceType": AI}]}}]}},
             "validation_results": {"activeManifest": {"success": [{"code": "claimSignature.validated"}],
                                                       "failure": []}}}
    summary = c2mod.summarize(store)
    assert summary["signature_valid"] and summary["trusted"]
    (sig,) = c2mod.signals_from(summary)
    assert sig["strength"] == "strong" and sig["value"].startswith("trainedAlgorithmicMedia")
    store["validation_results"]["activeManifest"]["failure"] = [{"code": "assertion.dataHash.mismatch"}]
    (sig,) = c2mod.signals_from(c2mod.summarize(store))
    assert sig["strength"] == "weak" and "NOT valid" in sig["value"]


@pytest.fixture(scope="module")
def signer():
    c2pa = pytest.importorskip("c2pa", reason="c2pa-python not installed")
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "forensics tests")])

    def usage(sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=not sign,
                             crl_sign=not sign, encipher_only=False, decipher_only=False)

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def cert(subject, issuer, pub, is_ca):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(pub)
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1))
             .not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
             .add_extension(usage(not is_ca), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False))
        if not is_ca:
            b = (b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                 .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                critical=False))
        return b.sign(ca_key, hashes.SHA256())

    ca = cert(name("Test CA"), name("Test CA"), ca_key.public_key(), True)
    leaf = cert(name("Test signer"), ca.subject, key.public_key(), False)
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return lambda: c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, pem, None))


def _signed(signer, fmt: str, source_type: str, generator: str = "TestDiffusion") -> bytes:
    import c2pa

    buf = io.BytesIO()
    Image.fromarray(np.full((48, 64, 3), 77, np.uint8)).save(buf, "PNG" if fmt == "png" else "JPEG")
    buf.seek(0)
    manifest = {"claim_generator_info": [{"name": generator, "version": "1.0"}], "title": f"x.{fmt}",
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [
                    {"action": "c2pa.created", "digitalSourceType": source_type}]}}]}
    out = io.BytesIO()
    with c2pa.Builder(manifest) as builder:
        builder.sign(signer(), f"image/{fmt}", buf, out)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_signed_ai_manifest_is_strong(signer, write, fmt):
    r = inspect_provenance(write(f"s.{fmt}", _signed(signer, fmt, AI)))
    (sig,) = r["signals"]
    assert sig["kind"] == "c2pa_manifest" and sig["strength"] == "strong"
    assert sig["detail"]["signature_valid"] and not sig["detail"]["trusted"]  # throwaway CA
    assert sig["detail"]["actions"][0]["action"] == "c2pa.created"
    assert r["c2pa"]["claim_generator"][0] == "TestDiffusion"


def test_capture_manifest_gives_summary_not_signal(signer, write):
    r = inspect_provenance(write("cam.jpeg", _signed(signer, "jpeg", CAPTURE, "CameraApp")))
    assert r["signals"] == [] and r["c2pa"]["present"] and r["c2pa"]["signature_valid"]


def test_tampered_asset_is_weak(signer, write):
    data = bytearray(_signed(signer, "jpeg", AI))
    data[-40] ^= 0xFF  # inside the entropy-coded scan: pixels change, manifest does not
    r = inspect_provenance(write("t.jpeg", bytes(data)))
    sigs = [s for s in r["signals"] if s["kind"] == "c2pa_manifest"]
    assert sigs and sigs[0]["strength"] == "weak" and not sigs[0]["detail"]["signature_valid"]
