-- The notification outbox and its delivery log (portable SQL, like 0001).
-- A row is written in the transaction that makes its subject final; the notifier
-- claims it in a short transaction, delivers it, then records the attempt.

CREATE TABLE notifications (
    notification_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES merchants (client_id),
    -- AMS (signed JSON) or LEGACY (form-encoded, signed inside the body)
    protocol TEXT NOT NULL,
    -- what it is about: REFUND_RESULT + refund id, PAYMENT_RESULT + payment id, ...
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    url TEXT NOT NULL,
    -- the exact bytes sent on every attempt
    body TEXT NOT NULL,
    -- PENDING, DELIVERED or GAVE_UP
    status TEXT NOT NULL,
    -- attempts ever started, numbering the log
    attempts BIGINT NOT NULL,
    -- attempts started in the current schedule; a resend starts a new one
    round_attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    -- the node delivering the latest attempt, until it records the result or the claim expires
    claim_owner TEXT,
    claimed_at BIGINT,
    claim_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    UNIQUE (client_id, kind, subject_id)
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_by_merchant ON notifications (client_id, created_at);

CREATE TABLE notification_attempts (
    notification_id TEXT NOT NULL REFERENCES notifications (notification_id),
    attempt_no BIGINT NOT NULL,
    attempted_at BIGINT NOT NULL,
    -- NULL when no HTTP answer came (refused target, connection error, timeout, abandoned)
    http_status BIGINT,
    latency_ms BIGINT,
    -- the first 1 KB of the answer
    response_excerpt TEXT,
    error TEXT,
    PRIMARY KEY (notification_id, attempt_no)
);
