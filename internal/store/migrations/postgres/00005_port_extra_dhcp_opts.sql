-- +goose Up
-- A port's extra_dhcp_opts (extension extra_dhcp_opt) as a JSON list of
-- {opt_name, opt_value, ip_version}, like allowed_address_pairs: the port
-- row is read and written whole in its transaction. NULL (ports created
-- before this migration) reads as no options.
ALTER TABLE ports ADD COLUMN extra_dhcp_opts TEXT;

-- +goose Down
ALTER TABLE ports DROP COLUMN extra_dhcp_opts;
