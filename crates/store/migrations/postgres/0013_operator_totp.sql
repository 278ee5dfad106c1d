-- The console's optional second factor (TOTP, RFC 6238) and each account's last sign-in.
-- totp_secret is the shared secret sealed with the master key (never in the clear); null when
-- the second factor is off. totp_last_step is the time step of the last code accepted, so that
-- a code is accepted once.
alter table operators add column totp_secret text;
alter table operators add column totp_last_step bigint;
alter table operators add column last_sign_in_at bigint;
