//! The refund rules and the money arithmetic around them, per call. They run
//! once per refund under the payment's lock, so they must stay far below the
//! cost of a signature (hundreds of microseconds).

use backflow_domain::fx::Rate;
use backflow_domain::method::{default_capabilities, MethodOverride};
use backflow_domain::payment::{Door, Payment, PaymentStatus, ProductCode};
use backflow_domain::refund::RefundContext;
use backflow_domain::{ClientId, Currency, Money, PaymentId, PaymentRequestId, Timestamp};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn usd(minor: i64) -> Money {
    Money::new(Currency::parse("USD").expect("USD"), minor)
}

/// A paid wallet payment of 1,000,000.00 USD, as the load tool makes them.
fn payment() -> Payment {
    Payment {
        id: PaymentId::parse("20261125120000194000000000000000000").expect("id"),
        merchant: ClientId::parse("M-BENCH-0001").expect("id"),
        door: Door::Ams,
        request_id: PaymentRequestId::parse("pay-1").expect("id"),
        amount: usd(100_000_000),
        method_type: "GCASH".into(),
        product_code: ProductCode::Agreement,
        status: PaymentStatus::Success,
        is_authorization: false,
        captured_minor: 0,
        capture_closed: false,
        settlement_currency: Currency::parse("USD").expect("USD"),
        settled_minor: 100_000_000,
        commission_minor: 0,
        acquirer: None,
        chargeback_pending: false,
        notify_url: None,
        created_at: Timestamp(1_795_000_000_000),
        paid_at: Some(Timestamp(1_795_000_000_000)),
    }
}

fn rules(c: &mut Criterion) {
    let payment = payment();
    let caps = default_capabilities(&payment.method_type, None);
    let context = RefundContext {
        payment: &payment,
        caps: &caps,
        outstanding_minor: 4_000,
        prior_refunds: 40,
        now: Timestamp(1_795_000_060_000),
    };
    c.bench_function("refund_context_check_accepted", |b| {
        b.iter(|| black_box(&context).check(black_box(usd(1))))
    });
    c.bench_function("refund_context_check_amount_exceeds", |b| {
        b.iter(|| black_box(&context).check(black_box(usd(100_000_000))))
    });

    let rate = Rate::parse("1.3456").expect("rate");
    let sgd = Currency::parse("SGD").expect("SGD");
    c.bench_function("rate_convert", |b| {
        b.iter(|| black_box(rate).convert(black_box(usd(123_456_789)), sgd))
    });
    c.bench_function("rate_parse", |b| {
        b.iter(|| Rate::parse(black_box("1.3456")))
    });

    c.bench_function("method_override_parse", |b| {
        b.iter(|| {
            MethodOverride::parse(black_box(
                "QRIS:window_days=14,partial_allowed=false,min_refund.IDR=1000",
            ))
        })
    });
    c.bench_function("default_capabilities", |b| {
        b.iter(|| default_capabilities(black_box("KAKAOPAY"), None))
    });
}

criterion_group!(benches, rules);
criterion_main!(benches);
