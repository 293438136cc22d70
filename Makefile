GO ?= go

.PHONY: build test demo vet proto

build:
	$(GO) build -o bin/neutrino ./cmd/neutrino

# Installs Debian packages and Go modules as needed, starts PostgreSQL and
# MariaDB on 127.0.0.1 for the run, runs go vet and all tests (as root).
test:
	bash scripts/test.sh

# The seed's walkthrough on an embedded SQLite database, in namespaces.
demo: build
	bash scripts/deps.sh
	./bin/neutrino demo $(DEMOFLAGS)

vet:
	$(GO) vet ./...

proto:
	protoc --go_out=. --go_opt=module=neutrino --go-grpc_out=. --go-grpc_opt=module=neutrino internal/rpc/pb/neutrino.proto
