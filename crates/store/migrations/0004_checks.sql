-- CHECK constraints on amounts and states, a dead state for jobs, and a
-- merchant's refund channel.
--
-- SQLite takes a CHECK only in CREATE TABLE, so every table that gains one is
-- rebuilt, the same way on both databases: create the new table, copy the
-- rows, drop the old one, rename. Children are dropped before their parents
-- and the new ones reference the new parents, so no foreign key ever points
-- at a dropped table; renaming a table carries the references to it along.

ALTER TABLE merchants ADD COLUMN refund_channel TEXT;

CREATE TABLE payments_new (
    payment_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES merchants (client_id),
    door TEXT NOT NULL CHECK (door IN ('AMS', 'LEGACY')),
    payment_request_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount >= 0),
    method_type TEXT NOT NULL,
    product_code TEXT NOT NULL CHECK (product_code IN ('CASHIER_PAYMENT', 'AGREEMENT_PAYMENT', 'IN_STORE_PAYMENT')),
    status TEXT NOT NULL CHECK (status IN ('PROCESSING', 'AUTHORIZED', 'SUCCESS', 'FAIL', 'CANCELLED')),
    is_authorization BIGINT NOT NULL CHECK (is_authorization IN (0, 1)),
    captured BIGINT NOT NULL CHECK (captured >= 0 AND captured <= amount),
    capture_closed BIGINT NOT NULL CHECK (capture_closed IN (0, 1)),
    settlement_currency TEXT NOT NULL,
    settled BIGINT NOT NULL CHECK (settled >= 0),
    commission BIGINT NOT NULL CHECK (commission >= 0),
    acquirer TEXT,
    chargeback_pending BIGINT NOT NULL CHECK (chargeback_pending IN (0, 1)),
    notify_url TEXT,
    created_at BIGINT NOT NULL,
    paid_at BIGINT,
    UNIQUE (client_id, payment_request_id)
);
INSERT INTO payments_new (payment_id, client_id, door, payment_request_id, currency, amount, method_type,
    product_code, status, is_authorization, captured, capture_closed, settlement_currency, settled, commission,
    acquirer, chargeback_pending, notify_url, created_at, paid_at)
SELECT payment_id, client_id, door, payment_request_id, currency, amount, method_type,
    product_code, status, is_authorization, captured, capture_closed, settlement_currency, settled, commission,
    acquirer, chargeback_pending, notify_url, created_at, paid_at FROM payments;

CREATE TABLE captures_new (
    capture_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    capture_request_id TEXT NOT NULL,
    payment_id TEXT NOT NULL REFERENCES payments_new (payment_id),
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount >= 0),
    created_at BIGINT NOT NULL,
    UNIQUE (client_id, capture_request_id)
);
INSERT INTO captures_new (capture_id, client_id, capture_request_id, payment_id, currency, amount, created_at)
SELECT capture_id, client_id, capture_request_id, payment_id, currency, amount, created_at FROM captures;

CREATE TABLE refunds_new (
    refund_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    refund_request_id TEXT NOT NULL,
    payment_id TEXT NOT NULL REFERENCES payments_new (payment_id),
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount >= 0),
    status TEXT NOT NULL CHECK (status IN ('PROCESSING', 'WAITING_FUNDS', 'SUCCESS', 'FAIL')),
    reason TEXT,
    notify_url TEXT,
    result_code TEXT,
    notify_on_final BIGINT NOT NULL CHECK (notify_on_final IN (0, 1)),
    held_currency TEXT NOT NULL,
    held BIGINT NOT NULL CHECK (held >= 0),
    settled BIGINT CHECK (settled >= 0),
    quote_base TEXT,
    quote_quote TEXT,
    quote_rate TEXT,
    quote_date TEXT,
    commission_returned BIGINT NOT NULL CHECK (commission_returned >= 0),
    acquirer_name TEXT,
    acquirer_merchant_id TEXT,
    acquirer_transaction_id TEXT,
    acquirer_reference_no TEXT,
    reversed_at BIGINT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    UNIQUE (client_id, refund_request_id)
);
INSERT INTO refunds_new (refund_id, client_id, refund_request_id, payment_id, currency, amount, status, reason,
    notify_url, result_code, notify_on_final, held_currency, held, settled, quote_base, quote_quote, quote_rate,
    quote_date, commission_returned, acquirer_name, acquirer_merchant_id, acquirer_transaction_id,
    acquirer_reference_no, reversed_at, created_at, finished_at)
SELECT refund_id, client_id, refund_request_id, payment_id, currency, amount, status, reason,
    notify_url, result_code, notify_on_final, held_currency, held, settled, quote_base, quote_quote, quote_rate,
    quote_date, commission_returned, acquirer_name, acquirer_merchant_id, acquirer_transaction_id,
    acquirer_reference_no, reversed_at, created_at, finished_at FROM refunds;

DROP TABLE refunds;
DROP TABLE captures;
DROP TABLE payments;
ALTER TABLE payments_new RENAME TO payments;
ALTER TABLE captures_new RENAME TO captures;
ALTER TABLE refunds_new RENAME TO refunds;
CREATE INDEX captures_by_payment ON captures (payment_id);
CREATE INDEX refunds_by_payment ON refunds (payment_id);

CREATE TABLE notifications_new (
    notification_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES merchants (client_id),
    protocol TEXT NOT NULL CHECK (protocol IN ('AMS', 'LEGACY')),
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'DELIVERED', 'GAVE_UP')),
    attempts BIGINT NOT NULL CHECK (attempts >= 0),
    round_attempts BIGINT NOT NULL CHECK (round_attempts >= 0 AND round_attempts <= attempts),
    next_attempt_at BIGINT NOT NULL,
    claim_owner TEXT,
    claimed_at BIGINT,
    claim_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    UNIQUE (client_id, kind, subject_id)
);
INSERT INTO notifications_new (notification_id, client_id, protocol, kind, subject_id, url, body, status,
    attempts, round_attempts, next_attempt_at, claim_owner, claimed_at, claim_expires_at, created_at, delivered_at)
SELECT notification_id, client_id, protocol, kind, subject_id, url, body, status,
    attempts, round_attempts, next_attempt_at, claim_owner, claimed_at, claim_expires_at, created_at, delivered_at
FROM notifications;

CREATE TABLE notification_attempts_new (
    notification_id TEXT NOT NULL REFERENCES notifications_new (notification_id),
    attempt_no BIGINT NOT NULL CHECK (attempt_no >= 0),
    attempted_at BIGINT NOT NULL,
    http_status BIGINT,
    latency_ms BIGINT CHECK (latency_ms >= 0),
    response_excerpt TEXT,
    error TEXT,
    PRIMARY KEY (notification_id, attempt_no)
);
INSERT INTO notification_attempts_new (notification_id, attempt_no, attempted_at, http_status, latency_ms,
    response_excerpt, error)
SELECT notification_id, attempt_no, attempted_at, http_status, latency_ms, response_excerpt, error
FROM notification_attempts;

DROP TABLE notification_attempts;
DROP TABLE notifications;
ALTER TABLE notifications_new RENAME TO notifications;
ALTER TABLE notification_attempts_new RENAME TO notification_attempts;
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_by_merchant ON notifications (client_id, created_at);

-- A job that failed `failures` runs in a row waits longer before each next
-- one; after the last it is DEAD: no node runs it until an operator retries it.
CREATE TABLE jobs_new (
    job_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    payload TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL CHECK (attempts >= 0),
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'DEAD')),
    failures BIGINT NOT NULL CHECK (failures >= 0),
    last_error TEXT,
    claimed_by TEXT,
    claim_expires_at BIGINT,
    created_at BIGINT NOT NULL
);
INSERT INTO jobs_new (job_id, kind, subject, payload, run_at, attempts, status, failures, claimed_by,
    claim_expires_at, created_at)
SELECT job_id, kind, subject, payload, run_at, attempts, 'PENDING', 0, claimed_by, claim_expires_at, created_at
FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_due ON jobs (status, run_at);
