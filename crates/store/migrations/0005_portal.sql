-- The merchant portal: its users, their sessions and the tokens of refund forms.
-- Portable SQL, like every migration: the same text runs on SQLite and PostgreSQL.

CREATE TABLE portal_users (
    user_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES merchants (client_id),
    email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    payment_password_hash TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    -- Failed logins in a row, and until when the account is locked after too many.
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    -- Wrong payment passwords in a row, and until when refunds are locked.
    failed_payment_passwords BIGINT NOT NULL DEFAULT 0,
    refunds_locked_until BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX portal_users_by_merchant ON portal_users (client_id);

CREATE TABLE portal_sessions (
    session_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES portal_users (user_id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);

-- One row a refund form: the refund request id is derived from the token, so
-- a form submitted twice makes one refund. Amount and reason are fixed when the
-- payment password is accepted; the confirmation submits only the token.
CREATE TABLE portal_refund_forms (
    token TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES portal_users (user_id),
    payment_id TEXT NOT NULL,
    currency TEXT,
    amount BIGINT,
    reason TEXT,
    verified_at BIGINT,
    created_at BIGINT NOT NULL
);

-- Portal preferences of a merchant: the UTC offset its pages show times in.
CREATE TABLE portal_merchant_settings (
    client_id TEXT PRIMARY KEY REFERENCES merchants (client_id),
    utc_offset_minutes BIGINT NOT NULL DEFAULT 0
);

-- The transaction list pages newest first by (created_at, payment_id).
CREATE INDEX payments_by_merchant_time ON payments (client_id, created_at, payment_id);
