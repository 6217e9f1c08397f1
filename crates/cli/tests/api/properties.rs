//! Property test: random sequences of payments, captures, refunds, channel
//! failures, timeouts and reversals keep every ledger invariant, and what is
//! refunded never exceeds what was paid or captured.

use crate::helpers::{assert_ledger_sound, spawn_app, Backend};
use backflow_domain::ledger::PostingKind;
use backflow_domain::payment::{Door, ProductCode};
use backflow_domain::{
    CaptureRequestId, ClientId, Currency, Money, PaymentId, PaymentRequestId, RefundRequestId,
};
use backflow_engine::{CaptureCommand, PayCommand, RefundCommand, RefundMode};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Pay {
        method: usize,
        amount: i64,
        authorise: bool,
    },
    Capture {
        payment: usize,
        amount: i64,
    },
    Refund {
        payment: usize,
        amount: i64,
        script: usize,
    },
    Advance {
        seconds: i64,
    },
    Adjust {
        amount: i64,
    },
}

const METHODS: &[&str] = &["GCASH", "CARD", "BANK_TRANSFER", "QRIS"];
const SCRIPTS: &[Option<&str>] = &[
    None,
    None,
    Some("REFUND_IN_PROCESS;delay=10"),
    Some("UNKNOWN_EXCEPTION;delay=10;then=PROCESS_FAIL"),
    Some("SUCCESS;reverse_after=20"),
    Some("PROCESS_FAIL"),
    Some("REFUND_IN_PROCESS;delay=5;then=ORDER_IS_CLOSED"),
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..METHODS.len(), 1i64..5_000, any::<bool>()).prop_map(|(method, amount, authorise)| {
            Op::Pay {
                method,
                amount,
                authorise,
            }
        }),
        (0usize..8, 1i64..3_000).prop_map(|(payment, amount)| Op::Capture { payment, amount }),
        (0usize..8, 1i64..3_000, 0..SCRIPTS.len()).prop_map(|(payment, amount, script)| {
            Op::Refund {
                payment,
                amount,
                script,
            }
        }),
        (1i64..120).prop_map(|seconds| Op::Advance { seconds }),
        (-2_000i64..2_000).prop_map(|amount| Op::Adjust { amount }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn random_lifecycles_keep_the_ledger_sound(ops in prop::collection::vec(op(), 5..40)) {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let app = spawn_app(Backend::Sqlite).await;
            let engine = &app.engine;
            let merchant = ClientId::parse(app.merchant.client_id.clone()).expect("id");
            let usd = Currency::parse("USD").expect("usd");
            let mut payments: Vec<PaymentId> = Vec::new();
            for (i, op) in ops.iter().enumerate() {
                // Refusals are part of the game; only the invariants must hold.
                match op {
                    Op::Pay { method, amount, authorise } => {
                        let paid = engine
                            .pay(PayCommand {
                                merchant: merchant.clone(),
                                door: Door::Ams,
                                request_id: PaymentRequestId::parse(format!("p{i}")).expect("id"),
                                amount: Money::new(usd, *amount),
                                method_type: METHODS[*method].into(),
                                product_code: ProductCode::Agreement,
                                is_authorization: *authorise,
                                settlement_currency: None,
                                notify_url: None,
                            })
                            .await;
                        if let Ok(p) = paid {
                            payments.push(p.id);
                        }
                    }
                    Op::Capture { payment, amount } => {
                        if let Some(id) = payments.get(*payment) {
                            let _ = engine
                                .capture(CaptureCommand {
                                    merchant: merchant.clone(),
                                    request_id: CaptureRequestId::parse(format!("c{i}")).expect("id"),
                                    payment_id: id.clone(),
                                    amount: Money::new(usd, *amount),
                                    is_last: false,
                                })
                                .await;
                        }
                    }
                    Op::Refund { payment, amount, script } => {
                        if let Some(id) = payments.get(*payment) {
                            if let Some(s) = SCRIPTS[*script] {
                                engine.script_sandbox_refund(&merchant, s).await.expect("script");
                            }
                            let _ = engine
                                .refund(RefundCommand {
                                    merchant: merchant.clone(),
                                    request_id: RefundRequestId::parse(format!("r{i}")).expect("id"),
                                    payment_id: id.clone(),
                                    amount: Money::new(usd, *amount),
                                    reason: None,
                                    notify_url: None,
                                    mode: RefundMode::Ams,
                                })
                                .await;
                        }
                    }
                    Op::Advance { seconds } => {
                        app.clock.advance_millis(seconds * 1000);
                        engine.run_due_jobs().await.expect("jobs");
                    }
                    Op::Adjust { amount } => {
                        let _ = engine.move_merchant_funds(&merchant, Money::new(usd, *amount), PostingKind::Adjustment, "prop").await;
                    }
                }
                assert_ledger_sound(&app).await;
            }
            // Everything scheduled finishes, and the ledger is still sound.
            app.clock.advance_days(2);
            engine.run_due_jobs().await.expect("jobs");
            assert_eq!(engine.store_for_tests().pending_job_count().await.expect("count"), 0);
            assert_ledger_sound(&app).await;
        });
    }
}
