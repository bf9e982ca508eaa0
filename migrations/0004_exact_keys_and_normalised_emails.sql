-- Issue 18: idempotency keys compare byte for byte, and emails have one normal form.
-- `CaseKey-x` and `casekey-x` are two keys: the column compares in binary (the unique key on
-- (customer_id, idempotency_key) is rebuilt with it). Existing keys are kept as they are.
ALTER TABLE orders
  MODIFY COLUMN idempotency_key VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL
    COMMENT 'compared byte for byte';

-- Emails: `flask --app app1 init-db` rewrites every stored address to its normal form (NFKC, case-folded;
-- courier/emails.py: SQL has no NFKC) right after the migrations. Accounts whose addresses would become the
-- same are not merged: init-db prints them and the app logs them, and they keep their spelling until resolved.
