-- Column masks on ${catalog}.silver.employees (issue 7). Members of the account group `pii_readers` get the
-- decrypted value (Databricks SQL's own aes_decrypt with the key version the table is encrypted with);
-- everyone else gets the masked form the employees job derived before encryption (email_masked,
-- phone_masked, salary_band), so a mask never needs the key for non-members.
--
-- Run by the employees job after each write and by `climatelake pii rotate` after a re-encryption, with
-- ${catalog}, ${pii_secret_scope} and ${pii_key_secret} (e.g. pii-key-v2) substituted.
-- Locally the workspace stand-in resolves secret() from its own scopes and runs aes_decrypt as a Python UDF
-- on Sail (emulators/workspace/sql_functions.py), so members get the plaintext there too.

CREATE OR REPLACE FUNCTION ${catalog}.silver.pii_mask_email(email STRING, email_masked STRING)
RETURNS STRING
RETURN CASE WHEN is_account_group_member('pii_readers')
  THEN CAST(aes_decrypt(unbase64(email), unbase64(secret('${pii_secret_scope}', '${pii_key_secret}'))) AS STRING)
  ELSE email_masked END;

CREATE OR REPLACE FUNCTION ${catalog}.silver.pii_mask_phone(phone STRING, phone_masked STRING)
RETURNS STRING
RETURN CASE WHEN is_account_group_member('pii_readers')
  THEN CAST(aes_decrypt(unbase64(phone), unbase64(secret('${pii_secret_scope}', '${pii_key_secret}'))) AS STRING)
  ELSE phone_masked END;

CREATE OR REPLACE FUNCTION ${catalog}.silver.pii_mask_salary(salary STRING, salary_band STRING)
RETURNS STRING
RETURN CASE WHEN is_account_group_member('pii_readers')
  THEN CAST(aes_decrypt(unbase64(salary), unbase64(secret('${pii_secret_scope}', '${pii_key_secret}'))) AS STRING)
  ELSE salary_band END;

ALTER TABLE ${catalog}.silver.employees ALTER COLUMN email
  SET MASK ${catalog}.silver.pii_mask_email USING COLUMNS (email_masked);
ALTER TABLE ${catalog}.silver.employees ALTER COLUMN phone
  SET MASK ${catalog}.silver.pii_mask_phone USING COLUMNS (phone_masked);
ALTER TABLE ${catalog}.silver.employees ALTER COLUMN salary
  SET MASK ${catalog}.silver.pii_mask_salary USING COLUMNS (salary_band);
