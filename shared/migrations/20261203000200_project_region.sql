-- migrate:up
-- Where the project is (ISO 3166-2, such as AU-NSW): a region with a Security of Payment Act starts the
-- payment-schedule clock of a submitted claim (rule 18c). NULL for projects whose ERP events carry no region.
ALTER TABLE erp_projects ADD COLUMN region text;

-- migrate:down
ALTER TABLE erp_projects DROP COLUMN region;
