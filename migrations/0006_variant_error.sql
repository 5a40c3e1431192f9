-- Why a variant has no figures (VariantResult.error), e.g. "diverged at epoch
-- 2, batch 31: loss is nan; try a lower learning rate"; '' when it has them.
-- A job whose QAT variant diverged still succeeds with its other variants.
-- Only a new column with a default: older code can still use this database.
-- compatible_version: 1

ALTER TABLE variant_results ADD COLUMN error TEXT NOT NULL DEFAULT '';
