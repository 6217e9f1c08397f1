//! What one AMS signature costs: every answer is signed once (RSA-2048,
//! PKCS#1 v1.5, SHA-256) and every request verified once. The load tool's
//! ceiling is the signing rate; these show the per-operation figures behind it.

use backflow_crypto::ams::{parse_signature_header, signature_header, signed_content};
use backflow_crypto::{GeneratedKeyPair, SigningKey, VerifyingKey};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

/// A refund answer's signed content, about the size Backflow signs.
fn refund_answer() -> Vec<u8> {
    let body = br#"{"acquirerReferenceNo":"20261125120000194200000000000000000","paymentId":"20261125120000194000000000000000000","refundAmount":{"currency":"USD","value":"1"},"refundId":"20261125120000194200000000000000001","refundRequestId":"b1764072000000-c-1","refundTime":"2026-11-25T12:00:00+00:00","result":{"resultCode":"SUCCESS","resultMessage":"success","resultStatus":"S"}}"#;
    signed_content(
        "POST",
        "/ams/api/v1/payments/refund",
        "M-BENCH-0001",
        "2026-11-25T12:00:00+00:00",
        body,
    )
}

fn signatures(c: &mut Criterion) {
    let keys = GeneratedKeyPair::generate().expect("key generation");
    let signer = SigningKey::from_pkcs8_der(&keys.pkcs8_der).expect("signing key");
    let verifier = VerifyingKey::from_der(&keys.spki_der).expect("verifying key");
    let content = refund_answer();
    let signature = signer.sign_sha256(&content).expect("sign");
    let header = signature_header(1, &signature);

    let mut group = c.benchmark_group("ams_signature");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign_rsa2048_sha256", |b| {
        b.iter(|| signer.sign_sha256(black_box(&content)))
    });
    group.bench_function("verify_rsa2048_sha256", |b| {
        b.iter(|| verifier.verify_sha256(black_box(&content), black_box(&signature)))
    });
    group.bench_function("parse_signature_header", |b| {
        b.iter(|| parse_signature_header(black_box(&header)))
    });
    group.finish();
}

criterion_group!(benches, signatures);
criterion_main!(benches);
