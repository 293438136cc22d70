// Package apitest builds the real server side (store, ML2 plugin, API
// handler) for the API's integration tests and benchmark: a fresh database
// (SQLite file, or a new database on the shared PostgreSQL/MariaDB), the
// configuration loaded through config.LoadServer from INI text, and the
// api.Server on top. Nothing here is a fake.
package apitest
